/**
 * One scan of `execution` grouped by script: the dashboard summary and tasks and the
 * executions' task performance all read from it. Executions without a script form their
 * own group (summary counts them).
 *
 * Rows are grouped by (script, start tier), where a tier is the stretch of time between two
 * requested cutoffs; a period is then the sum of its tiers, added up over the few thousand
 * groups instead of testing every row against every period.
 */
import { sql } from 'kysely';
import type { Db } from '../io/db.js';
import type { RunPlan } from '../plan.js';
import { byLookBack, type Period } from '../lib/time.js';
import { tierOf, timestampParam } from './filters.js';

export interface ScriptPeriodCounts {
  total: number;
  finished: number;
  failed: number;
  cancelled: number;
  /** Executions with both dates, for task performance. */
  timed: number;
  timedFinished: number;
  /** PostgreSQL's exact average duration in minutes of the timed executions (numeric text). */
  timedAvgMinutes: string | null;
}

export interface ScriptCountsRow {
  scriptId: string | null;
  /** Only the periods the script has executions in. */
  byPeriod: Map<Period, ScriptPeriodCounts>;
}

/** Periods whose counts this scan must produce, shortest look-back first. */
export function scriptScanPeriods(plan: RunPlan): Period[] {
  return [...new Set([...plan.summary, ...plan.tasks, ...plan.performance])].sort(byLookBack);
}

interface Row {
  script_id: string | null;
  tier: number;
  total: number;
  finished: number;
  failed: number;
  cancelled: number;
  timed: number;
  timed_finished: number;
  timed_avg: string | null;
}

export async function loadExecutionsByScript(db: Db, plan: RunPlan): Promise<ScriptCountsRow[]> {
  const periods = scriptScanPeriods(plan);
  if (periods.length === 0) return [];
  const cutoffs = periods.map((period) => plan.cutoffs[period]);
  const oldest = cutoffs.at(-1) ?? null;
  // The average is exactly PostgreSQL's avg(): the same per-row quotient, summed exactly per
  // group and then per period, divided once by the count (a numeric, as inside avg()).
  // OFFSET 0 computes the tier once per row and keeps the planner's guess of the number of
  // groups (and so the initial hash table) small.
  const { rows } = await sql<Row>`
    SELECT g.script_id, p.tier,
           sum(g.n)::int8 AS total, sum(g.finished)::int8 AS finished, sum(g.failed)::int8 AS failed,
           sum(g.cancelled)::int8 AS cancelled, sum(g.timed)::int8 AS timed, sum(g.timed_finished)::int8 AS timed_finished,
           sum(g.minutes) / nullif(sum(g.timed), 0) AS timed_avg
    FROM (SELECT script_id, tier, count(*) AS n,
                 count(*) FILTER (WHERE status = 'FINISHED') AS finished,
                 count(*) FILTER (WHERE status = 'FAILED') AS failed,
                 count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
                 count(duration) AS timed,
                 count(duration) FILTER (WHERE status = 'FINISHED') AS timed_finished,
                 sum(extract(epoch FROM duration) / 60) AS minutes
          FROM (SELECT script_id, status, ${tierOf(sql.ref('start_date'), cutoffs)} AS tier,
                       end_date - start_date AS duration
                FROM execution
                ${oldest === null ? sql`` : sql`WHERE start_date >= ${timestampParam(oldest)}`}
                OFFSET 0) e
          GROUP BY script_id, tier) g
    JOIN generate_series(0, ${sql.lit(periods.length - 1)}) AS p(tier) ON g.tier <= p.tier
    GROUP BY g.script_id, p.tier`.execute(db);

  const byScript = new Map<string | null, ScriptCountsRow>();
  for (const row of rows) {
    let script = byScript.get(row.script_id);
    if (!script) {
      script = { scriptId: row.script_id, byPeriod: new Map() };
      byScript.set(row.script_id, script);
    }
    script.byPeriod.set(periods[Number(row.tier)]!, {
      total: Number(row.total),
      finished: Number(row.finished),
      failed: Number(row.failed),
      cancelled: Number(row.cancelled),
      timed: Number(row.timed),
      timedFinished: Number(row.timed_finished),
      timedAvgMinutes: row.timed_avg,
    });
  }
  return [...byScript.values()];
}
