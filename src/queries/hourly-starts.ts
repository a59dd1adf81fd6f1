/**
 * Executions per hour of start_date over the trends' longest window (365 days), with
 * a count for each window the trends need. Days and months are rolled up from the
 * hours, so hourly, daily and monthly series for every period come from one statement.
 *
 * Time from the earliest window start to the end of the current hour is cut at every hour
 * and every window start, and each piece is counted with a range scan of the start_date
 * index: no row is read, hashed or formatted, and a piece lies in one hour and inside or
 * outside each window. Executions starting after the current hour (clock skew) are grouped
 * the ordinary way; there are normally none.
 */
import { sql } from 'kysely';
import type { Db } from '../io/db.js';
import type { RunPlan } from '../plan.js';
import { toSqlTimestamp } from '../lib/time.js';
import { alias, isoSeconds, timestampParam } from './filters.js';

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

const HOUR_MS = 60 * 60 * 1000;

export async function loadHourlyStarts(db: Db, plan: RunPlan): Promise<HourRow[]> {
  const windows = trendWindows(plan);
  const starts = [...new Set(windows.values())];
  const earliest = [...starts].sort()[0]!;
  // The end of the hour holding `now`; every window starts before it.
  const end = toSqlTimestamp(new Date(Math.floor(plan.now.getTime() / HOUR_MS) * HOUR_MS + HOUR_MS));
  const counts = [...windows].map(
    ([name, from]) => sql`coalesce(sum(n) FILTER (WHERE lo >= ${timestampParam(from)}), 0)::int8`.as(alias('n', name)),
  );
  const { rows } = await sql<Record<string, unknown> & { hour: string }>`
    SELECT ${isoSeconds(sql`date_trunc('hour', lo)`)} AS hour, ${sql.join(counts)}
    FROM (
      SELECT lo, (SELECT count(*) FROM execution WHERE start_date >= lo AND start_date < hi) AS n
      FROM (SELECT lo, lead(lo) OVER (ORDER BY lo) AS hi
            FROM (SELECT generate_series(date_trunc('hour', ${timestampParam(earliest)}) + interval '1 hour',
                                         ${timestampParam(end)}, interval '1 hour') AS lo
                  UNION
                  SELECT unnest(${starts}::timestamp[])) bounds) pieces
      WHERE hi IS NOT NULL
      UNION ALL
      SELECT date_trunc('hour', start_date), count(*) FROM execution WHERE start_date >= ${timestampParam(end)} GROUP BY 1
    ) counted
    GROUP BY date_trunc('hour', lo)
    HAVING sum(n) > 0`.execute(db);
  const columns = [...windows.keys()].map((name) => [name, alias('n', name)] as const);
  return rows.map((row) => ({
    hour: row.hour,
    counts: new Map(columns.map(([name, column]) => [name, Number(row[column])])),
  }));
}
