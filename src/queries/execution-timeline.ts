/**
 * The executions' time series for every requested (period, granularity) from one scan.
 * Time is cut into tiers at the requested periods' cutoffs, and each tier is bucketed
 * as finely as the series that include it need (see `seriesTiers`); the series are then
 * rolled up from those buckets exactly. Rows are grouped by task, not by script, to keep
 * the result small: the script-to-task mapping is sent along as two arrays.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Granularity } from '../batches.js';
import type { Db } from '../db.js';
import { seriesTiers, type RunPlan, type SeriesTier } from '../plan.js';
import { isoSeconds, timestampParam } from './filters.js';

export interface TimelineRow {
  readonly tier: number;
  /** `YYYY-MM-DDTHH:MM:SS`, or null for events without a timestamp. */
  readonly bucket: string | null;
  readonly status: string | null;
  readonly task: string;
  readonly count: number;
}

/** When an execution counts: its end for finished, failed or cancelled ones, else its start. */
const EVENT_TIME = sql`CASE WHEN e.end_date IS NOT NULL AND e.status IN ('FINISHED', 'FAILED', 'CANCELLED')
  THEN e.end_date ELSE e.start_date END`;

function bucketOf(granularity: Granularity): RawBuilder<unknown> {
  if (granularity === 'quarter_hour') return sql`date_bin('15 minutes', ev, timestamp '1970-01-01')`;
  return sql`date_trunc(${sql.lit(granularity)}, ev)`;
}

function tierCase(tiers: readonly SeriesTier[], value: (tier: SeriesTier, index: number) => RawBuilder<unknown>) {
  const branches = tiers.map((tier, index) =>
    tier.from === null
      ? sql`ELSE ${value(tier, index)}`
      : sql`WHEN ev >= ${timestampParam(tier.from)} THEN ${value(tier, index)}`,
  );
  return sql`CASE ${sql.join(branches, sql` `)} END`;
}

/** `taskOfScript` maps script ids to task names; executions of other scripts are left out. */
export async function loadTimeline(
  db: Db,
  plan: RunPlan,
  taskOfScript: ReadonlyMap<string, string>,
): Promise<{ tiers: SeriesTier[]; rows: TimelineRow[] }> {
  const tiers = seriesTiers(plan.timeSeries, plan.cutoffs);
  const tasks = [...new Set(taskOfScript.values())];
  const taskIndex = new Map(tasks.map((task, index) => [task, index]));
  const scriptIds = [...taskOfScript.keys()];
  const scriptTasks = scriptIds.map((id) => taskIndex.get(taskOfScript.get(id)!)!);

  const oldest = tiers.at(-1)?.from ?? null;
  // Sargable pre-filter: an event time at or after the cutoff means one of the two dates is.
  const recentOnly =
    oldest === null
      ? sql`true`
      : sql`(e.start_date >= ${timestampParam(oldest)} OR e.end_date >= ${timestampParam(oldest)})`;

  const { rows } = await sql<{ tier: number; bucket: string | null; status: string | null; task: number; n: number }>`
    SELECT tier, bucket, status, task, count(*) AS n FROM (
      SELECT ${tierCase(tiers, (_tier, index) => sql.lit(index))} AS tier,
             ${tierCase(tiers, (tier) => isoSeconds(bucketOf(tier.bucket)))} AS bucket,
             status, task
      FROM (SELECT ${EVENT_TIME} AS ev, e.status, m.task
            FROM execution e
            JOIN unnest(${scriptIds}::uuid[], ${scriptTasks}::int[]) AS m(script_id, task) ON m.script_id = e.script_id
            WHERE ${recentOnly}) events
      ${oldest === null ? sql`` : sql`WHERE ev >= ${timestampParam(oldest)}`}
    ) tiered
    GROUP BY tier, bucket, status, task`.execute(db);

  return {
    tiers,
    rows: rows.map((row) => ({
      tier: Number(row.tier),
      bucket: row.bucket,
      status: row.status,
      task: tasks[Number(row.task)]!,
      count: Number(row.n),
    })),
  };
}
