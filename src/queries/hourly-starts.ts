/**
 * Executions per hour of start_date over the trends' longest window (365 days), with
 * a count for each window the trends need. Days and months are rolled up from the
 * hours, so hourly, daily and monthly series for every period come from one scan.
 */
import { sql } from 'kysely';
import type { Db } from '../db.js';
import type { RunPlan } from '../plan.js';
import { alias, isoSeconds, sinceCutoff } from './filters.js';

export interface HourRow {
  /** `YYYY-MM-DDTHH:00:00` */
  readonly hour: string;
  /** Count per window name (a period, `hourly` or `monthly`). */
  readonly counts: Map<string, number>;
}

/** The windows the trends of the planned periods need, with their naive UTC starts. */
export function trendWindows(plan: RunPlan): Map<string, string> {
  const windows = new Map<string, string>([['monthly', plan.monthlyWindowStart]]);
  if (plan.trends.some((period) => period === 'last_day' || period === 'all')) {
    windows.set('hourly', plan.hourlyWindowStart);
  }
  for (const period of plan.trends) {
    const cutoff = plan.cutoffs[period];
    if (cutoff !== null) windows.set(period, cutoff);
  }
  return windows;
}

export async function loadHourlyStarts(db: Db, plan: RunPlan): Promise<HourRow[]> {
  const windows = trendWindows(plan);
  const start = sql.ref('start_date');
  const earliest = [...windows.values()].sort()[0]!;
  const rows = await db
    .selectFrom('execution')
    .select(isoSeconds(sql`date_trunc('hour', start_date)`).as('hour'))
    .select([...windows].map(([name, from]) => sql`count(*) FILTER (WHERE ${sinceCutoff(start, from)})`.as(alias('n', name))))
    .where(sinceCutoff(start, earliest))
    .groupBy(sql`1`)
    .execute();
  return rows.map((row) => ({
    hour: row.hour as string,
    counts: new Map([...windows.keys()].map((name) => [name, Number((row as Record<string, unknown>)[alias('n', name)] ?? 0)])),
  }));
}
