/**
 * Time as PostgreSQL's binary protocol carries it: `timestamp without time zone` is an int8
 * of microseconds since 2000-01-01 00:00, read here as a Number (exact below 2^53 µs, about
 * 285 years either side of 2000). Buckets are computed on integers, never with a Date per
 * row, and formatted only once each, as the API's `isoformat()` would print them.
 */

export const MICROS_PER_MINUTE = 60_000_000;
export const MINUTES_PER_DAY = 1440;
/** 2000-01-01T00:00:00Z in Unix milliseconds: PostgreSQL's epoch. */
const PG_EPOCH_MS = 946_684_800_000;
/** 2000-01-03, the first Monday after PostgreSQL's epoch, in days since it: weeks start there. */
const FIRST_MONDAY = 2;

/** Microseconds since 2000-01-01 of an instant (millisecond precision, as a Date holds it). */
export function microsOf(instant: Date): number {
  return (instant.getTime() - PG_EPOCH_MS) * 1000;
}

/**
 * Microseconds since 2000-01-01 of a naive UTC timestamp printed `YYYY-MM-DDTHH:MM:SS.ffffff`
 * (the change probe's shape), or null for any other text. Exact within ±2^53 µs.
 */
export function microsOfText(text: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})$/.exec(text);
  if (!match) return null;
  const [year, month, day, hour, minute, second, micros] = match.slice(1).map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC maps years 0-99 to 1900-1999; such timestamps are not compared, only refused.
  if (year < 100 || Number.isNaN(ms)) return null;
  return (ms - PG_EPOCH_MS) * 1000 + micros;
}

/** floor(a / b) for integers, exact even where the float quotient rounds up to the next integer. */
export function floorDiv(a: number, b: number): number {
  const q = Math.floor(a / b);
  const r = a - q * b;
  return r < 0 ? q - 1 : r >= b ? q + 1 : q;
}

/** Whole minutes since 2000-01-01 of a timestamp in microseconds (bigint for ones beyond 2^53). */
export function minuteOf(micros: number | bigint): number {
  if (typeof micros === 'bigint') {
    const q = micros / 60_000_000n;
    return Number(micros % 60_000_000n < 0n ? q - 1n : q);
  }
  return floorDiv(micros, MICROS_PER_MINUTE);
}

/** The civil date of a day count since 2000-01-01 (proleptic Gregorian, as PostgreSQL's). */
export function civilOf(days: number): { year: number; month: number; day: number } {
  // Days since 0000-03-01, in 400-year eras of 146,097 days (H. Hinnant's civil_from_days).
  const z = days + 730_425;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** Time buckets, finest first; `week_month` is a week cut at month boundaries (see plan.ts). */
export type BucketKind = 'quarter_hour' | 'hour' | 'day' | 'week' | 'month' | 'week_month';

/** The first day of the month holding `day` (days since 2000-01-01), without allocating. */
export function monthStartDay(day: number): number {
  // civilOf's arithmetic, keeping only the day of the month.
  const z = day + 730_425;
  const dayOfEra = z - Math.floor(z / 146_097) * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  return day - (dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5));
}

const weekStartDay = (day: number) => floorDiv(day - FIRST_MONDAY, 7) * 7 + FIRST_MONDAY;

/** `compute` memoised per day in a small direct-mapped table: rows cluster on few days, the arithmetic is not free. */
function perDay(compute: (day: number) => number): (day: number) => number {
  const size = 4096;
  const days = new Int32Array(size).fill(-0x80000000);
  const values = new Int32Array(size);
  return (day) => {
    const slot = day & (size - 1);
    if (days[slot] === day) return values[slot]!;
    const value = compute(day);
    days[slot] = day;
    values[slot] = value;
    return value;
  };
}

/** A function from a minute (since 2000-01-01) to the first minute of its bucket. */
export type BucketFunction = (minute: number) => number;

/** The bucket function of a kind, chosen once so the per-row code does not switch on it. */
export function bucketFunction(kind: BucketKind): BucketFunction {
  switch (kind) {
    case 'quarter_hour':
      return (minute) => floorDiv(minute, 15) * 15;
    case 'hour':
      return (minute) => floorDiv(minute, 60) * 60;
    case 'day':
      return (minute) => floorDiv(minute, MINUTES_PER_DAY) * MINUTES_PER_DAY;
    case 'week':
      return (minute) => weekStartDay(floorDiv(minute, MINUTES_PER_DAY)) * MINUTES_PER_DAY;
    case 'month': {
      const monthOf = perDay(monthStartDay);
      return (minute) => monthOf(floorDiv(minute, MINUTES_PER_DAY)) * MINUTES_PER_DAY;
    }
    case 'week_month': {
      const pieceOf = perDay((day) => Math.max(weekStartDay(day), monthStartDay(day)));
      return (minute) => pieceOf(floorDiv(minute, MINUTES_PER_DAY)) * MINUTES_PER_DAY;
    }
  }
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');

/** `YYYY-MM-DDTHH:MM:SS` of a minute since 2000-01-01, as Python's isoformat() of a whole minute. */
export function isoMinute(minute: number): string {
  const days = floorDiv(minute, MINUTES_PER_DAY);
  const inDay = minute - days * MINUTES_PER_DAY;
  return `${isoDayOf(days)}T${pad(Math.floor(inDay / 60), 2)}:${pad(inDay % 60, 2)}:00`;
}

/** `YYYY-MM-DD` of a day since 2000-01-01. */
export function isoDayOf(days: number): string {
  const { year, month, day } = civilOf(days);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}
