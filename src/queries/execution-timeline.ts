/**
 * The executions' time series for every requested (period, granularity) from one scan.
 * Time is cut into tiers at the requested periods' cutoffs, and each tier is bucketed
 * as finely as the series that include it need (see `seriesTiers`); the series are then
 * rolled up from those buckets exactly. Rows are grouped by task, not by script, to keep
 * the result small: the script-to-task mapping is sent along as two arrays.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../io/db.js';
import { seriesTiers, type RunPlan, type SeriesTier } from '../plan.js';
import { bucketOf, isoSeconds, tierOf, timestampParam } from './filters.js';

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

/** The bucket (a timestamp) of event time `ev` in the tier it falls in. */
function tieredBucket(tiers: readonly SeriesTier[]): RawBuilder<unknown> {
  const ev = sql.ref('ev');
  const branches = tiers.map((tier) =>
    tier.from === null
      ? sql`ELSE ${bucketOf(ev, tier.bucket)}`
      : sql`WHEN ev >= ${timestampParam(tier.from)} THEN ${bucketOf(ev, tier.bucket)}`,
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
  if (tiers.length === 0) return { tiers, rows: [] };
  const tasks = [...new Set(taskOfScript.values())];
  const taskIndex = new Map(tasks.map((task, index) => [task, index]));
  const scriptIds = [...taskOfScript.keys()];
  const scriptTasks = scriptIds.map((id) => taskIndex.get(taskOfScript.get(id)!)!);

  const oldest = tiers.at(-1)!.from;
  // Sargable pre-filter: an event time at or after the cutoff means one of the two dates is.
  const recentOnly =
    oldest === null
      ? sql``
      : sql`WHERE (e.start_date >= ${timestampParam(oldest)} OR e.end_date >= ${timestampParam(oldest)})`;

  // One pass over the executions, probing a hash of the (small) mapping: the mapping is
  // grouped by script id, so the planner knows its ids are unique and hashes it rather than
  // the executions, and the join key is wrapped in coalesce() so no setting (a low
  // random_page_cost) can turn it into 500 index scans of execution.script_id, each
  // visiting the table at random (measured: twice the CPU). OFFSET 0 computes the event
  // time once per row. Groups are keyed by timestamps; only the groups are formatted.
  const { rows } = await sql<{ tier: number; bucket: string | null; status: string | null; task: number | string; count: number }>`
    SELECT tier, ${isoSeconds(sql.ref('bucket'))} AS bucket, status, task, n AS count FROM (
      SELECT tier, bucket, status, task, count(*) AS n FROM (
        SELECT ${tierOf(sql.ref('ev'), tiers.map((tier) => tier.from))} AS tier, ${tieredBucket(tiers)} AS bucket, status, task
        FROM (SELECT ${EVENT_TIME} AS ev, e.status, m.task
              FROM execution e
              JOIN (SELECT script_id, min(task) AS task FROM unnest(${scriptIds}::uuid[], ${scriptTasks}::int[]) AS m(script_id, task)
                    GROUP BY script_id) m ON m.script_id = coalesce(e.script_id, e.script_id)
              ${recentOnly}
              OFFSET 0) events
        ${oldest === null ? sql`` : sql`WHERE ev >= ${timestampParam(oldest)}`}
      ) tiered
      GROUP BY tier, bucket, status, task) grouped`.execute(db);

  // Tens of thousands of rows: converted in place rather than copied.
  for (const row of rows) {
    row.tier = Number(row.tier);
    row.task = tasks[Number(row.task)]!;
    row.count = Number(row.count);
  }
  return { tiers, rows: rows as TimelineRow[] };
}
