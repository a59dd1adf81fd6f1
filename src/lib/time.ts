/**
 * Periods, cutoffs and instants. Timestamps in the API's tables are
 * `timestamp without time zone` holding UTC; the pass reads them as microseconds
 * (src/lib/micros.ts), so the process and session time zones never take part.
 */

export const PERIODS = ['last_day', 'last_week', 'last_month', 'last_year', 'all'] as const;
export type Period = (typeof PERIODS)[number];

const DAY_MS = 24 * 60 * 60 * 1000;
const PERIOD_DAYS: Readonly<Record<Exclude<Period, 'all'>, number>> = {
  last_day: 1,
  last_week: 7,
  last_month: 30,
  last_year: 365,
};

/** Trends look back this far for hourly and monthly series, whatever the period. */
export const HOURLY_WINDOW_MS = 72 * 60 * 60 * 1000;
export const MONTHLY_WINDOW_MS = 365 * DAY_MS;

/**
 * Every look-back a payload applies (`time >= now - W`, no upper bound): the periods' and the
 * trends'. As `now` moves on, a row leaves a window W at the first instant after its time + W.
 */
export const WINDOWS_MS: readonly number[] = [
  ...new Set([...Object.values(PERIOD_DAYS).map((days) => days * DAY_MS), HOURLY_WINDOW_MS, MONTHLY_WINDOW_MS]),
].sort((a, b) => a - b);

export function isPeriod(value: string): value is Period {
  return (PERIODS as readonly string[]).includes(value);
}

/** The period's cutoff instant, or null for `all`. */
export function periodCutoff(period: Period, now: Date): Date | null {
  if (period === 'all') return null;
  return new Date(now.getTime() - PERIOD_DAYS[period] * DAY_MS);
}

/** Orders periods from the shortest look-back to `all`. */
export function byLookBack(a: Period, b: Period): number {
  return PERIODS.indexOf(a) - PERIODS.indexOf(b);
}

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})[T ]([01]\d|2[0-3]):([0-5]\d)(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Whether the calendar has this day (Date would roll 2026-02-30 over to March). */
function isCalendarDay(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Parses an ISO-8601 instant. A zone (`Z` or an offset) is required: a naive time
 * would silently depend on the machine's time zone.
 */
export function parseInstant(text: string): Date | null {
  const trimmed = text.trim();
  const match = ISO_INSTANT.exec(trimmed);
  if (!match || !isCalendarDay(Number(match[1]), Number(match[2]), Number(match[3]))) return null;
  const date = new Date(trimmed.replace(' ', 'T'));
  return Number.isNaN(date.getTime()) ? null : date;
}
