/**
 * One scan of `execution` grouped by script, with a filtered count per period and
 * metric: the dashboard summary and tasks and the executions' task performance all
 * read from it. Executions without a script form their own group (summary counts them).
 */
import { sql, type AliasedRawBuilder, type RawBuilder } from 'kysely';
import type { Db } from '../db.js';
import type { RunPlan } from '../plan.js';
import { byLookBack, type Period } from '../time.js';
import { alias, sinceCutoff } from './filters.js';

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
  byPeriod: Map<Period, ScriptPeriodCounts>;
}

const START = sql.ref('start_date');
const TIMED = sql`start_date IS NOT NULL AND end_date IS NOT NULL`;

function countedColumns(period: Period, cutoff: string | null): AliasedRawBuilder<unknown, string>[] {
  const inPeriod = sinceCutoff(START, cutoff);
  const count = (name: string, condition: RawBuilder<unknown>) =>
    sql`count(*) FILTER (WHERE ${inPeriod} AND ${condition})`.as(alias(name, period));
  return [
    count('total', sql`true`),
    count('finished', sql`status = 'FINISHED'`),
    count('failed', sql`status = 'FAILED'`),
    count('cancelled', sql`status = 'CANCELLED'`),
  ];
}

function timedColumns(period: Period, cutoff: string | null): AliasedRawBuilder<unknown, string>[] {
  const inPeriod = sql`${sinceCutoff(START, cutoff)} AND ${TIMED}`;
  return [
    sql`count(*) FILTER (WHERE ${inPeriod})`.as(alias('timed', period)),
    sql`count(*) FILTER (WHERE ${inPeriod} AND status = 'FINISHED')`.as(alias('timed_finished', period)),
    sql`avg(extract(epoch FROM end_date - start_date) / 60) FILTER (WHERE ${inPeriod})`.as(
      alias('timed_avg', period),
    ),
  ];
}

/** Periods whose counts this scan must produce. */
export function scriptScanPeriods(plan: RunPlan): { counted: Period[]; timed: Period[] } {
  const counted = [...new Set([...plan.summary, ...plan.tasks])];
  return { counted, timed: [...plan.performance] };
}

export async function loadExecutionsByScript(db: Db, plan: RunPlan): Promise<ScriptCountsRow[]> {
  const { counted, timed } = scriptScanPeriods(plan);
  const columns = [
    ...counted.flatMap((period) => countedColumns(period, plan.cutoffs[period])),
    ...timed.flatMap((period) => timedColumns(period, plan.cutoffs[period])),
  ];
  const periods = [...new Set([...counted, ...timed])].sort(byLookBack);
  // Without `all`, only the longest period's rows matter, and the start_date index can find them.
  const oldest = periods.includes('all') ? null : plan.cutoffs[periods.at(-1) ?? 'all'] ?? null;
  const rows = await db
    .selectFrom('execution')
    .select('script_id')
    .select(columns)
    .where(sinceCutoff(START, oldest))
    .groupBy('script_id')
    .execute();
  return rows.map((row) => {
    const value = (name: string, period: Period) => (row as Record<string, unknown>)[alias(name, period)];
    const byPeriod = new Map<Period, ScriptPeriodCounts>();
    for (const period of periods) {
      byPeriod.set(period, {
        total: Number(value('total', period) ?? 0),
        finished: Number(value('finished', period) ?? 0),
        failed: Number(value('failed', period) ?? 0),
        cancelled: Number(value('cancelled', period) ?? 0),
        timed: Number(value('timed', period) ?? 0),
        timedFinished: Number(value('timed_finished', period) ?? 0),
        timedAvgMinutes: (value('timed_avg', period) as string | null | undefined) ?? null,
      });
    }
    return { scriptId: row.script_id, byPeriod };
  });
}
