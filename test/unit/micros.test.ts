import { describe, expect, it } from 'vitest';
import {
  bucketFunction,
  type BucketKind,
  civilOf,
  floorDiv,
  isoDayOf,
  isoMinute,
  microsOf,
  minuteOf,
  monthStartDay,
} from '../../src/lib/micros.js';

const DAY_MS = 86_400_000;
const EPOCH_MS = Date.UTC(2000, 0, 1);
/** Independent references through Date (UTC only). */
const dateOfDay = (day: number) => new Date(EPOCH_MS + day * DAY_MS);
const dayOfDate = (date: Date) => Math.floor((date.getTime() - EPOCH_MS) / DAY_MS);
/** Midnight of a civil date; setUTCFullYear, because Date.UTC reads years 0-99 as 1900-1999. */
const utcDate = (year: number, monthIndex: number, day: number) => {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, day);
  return date;
};
const minuteOfIso = (iso: string) => (Date.parse(iso) - EPOCH_MS) / 60_000;

describe('microsOf', () => {
  it('counts microseconds since 2000-01-01 UTC', () => {
    expect(microsOf(new Date('2000-01-01T00:00:00Z'))).toBe(0);
    expect(microsOf(new Date('2000-01-01T00:00:01.5Z'))).toBe(1_500_000);
    expect(microsOf(new Date('1999-12-31T23:59:59Z'))).toBe(-1_000_000);
    expect(microsOf(new Date('2026-06-15T12:34:56+02:00'))).toBe(microsOf(new Date('2026-06-15T10:34:56Z')));
  });
});

describe('floorDiv and minuteOf', () => {
  it('floors towards minus infinity', () => {
    expect(floorDiv(7, 2)).toBe(3);
    expect(floorDiv(-7, 2)).toBe(-4);
    expect(floorDiv(-6, 2)).toBe(-3);
    expect(floorDiv(0, 5)).toBe(0);
  });

  it('stays exact where the float quotient would round up', () => {
    // (2^53 - 1) / 3 rounds to a value whose floor is one too many in floating point for some divisors.
    for (const divisor of [3, 7, 60_000_000, 900_000_000]) {
      for (const value of [2 ** 53 - 1, 2 ** 53 - 2, -(2 ** 53 - 1), 2 ** 52 + 1]) {
        const expected = BigInt(value) / BigInt(divisor) - (BigInt(value) % BigInt(divisor) < 0n ? 1n : 0n);
        expect(floorDiv(value, divisor), `${value} / ${divisor}`).toBe(Number(expected));
      }
    }
  });

  it('turns microseconds into whole minutes, bigints too', () => {
    expect(minuteOf(59_999_999)).toBe(0);
    expect(minuteOf(60_000_000)).toBe(1);
    expect(minuteOf(-1)).toBe(-1);
    expect(minuteOf(-60_000_000)).toBe(-1);
    expect(minuteOf(10n ** 17n + 7n)).toBe(Number(10n ** 17n / 60_000_000n));
    expect(minuteOf(-(10n ** 17n) - 7n)).toBe(Number(-(10n ** 17n) / 60_000_000n) - 1);
  });
});

describe('civil dates', () => {
  it('civilOf matches Date over 0001-01-01 to 9999-12-31, every 13th day and around leap days', () => {
    const first = dayOfDate(new Date('0001-01-01T00:00:00Z'));
    const last = dayOfDate(new Date('9999-12-31T00:00:00Z'));
    const days: number[] = [];
    for (let day = first; day <= last; day += 13) days.push(day);
    for (const year of [1900, 2000, 2024, 2100, 2400]) {
      const feb28 = dayOfDate(utcDate(year, 1, 28));
      days.push(feb28, feb28 + 1, feb28 + 2);
    }
    const wrong = days.filter((day) => {
      const date = dateOfDay(day);
      const civil = civilOf(day);
      const monthStart = dayOfDate(utcDate(date.getUTCFullYear(), date.getUTCMonth(), 1));
      return (
        civil.year !== date.getUTCFullYear() || civil.month !== date.getUTCMonth() + 1 || civil.day !== date.getUTCDate() ||
        monthStartDay(day) !== monthStart
      );
    });
    expect(days.length).toBeGreaterThan(280_000);
    expect(wrong).toEqual([]);
  });

  it('formats days and minutes as the API prints them', () => {
    expect(isoDayOf(0)).toBe('2000-01-01');
    expect(isoDayOf(-1)).toBe('1999-12-31');
    expect(isoMinute(minuteOfIso('2026-06-15T12:34:00Z'))).toBe('2026-06-15T12:34:00');
    expect(isoMinute(minuteOfIso('1970-01-01T00:00:00Z'))).toBe('1970-01-01T00:00:00');
  });
});

describe('buckets', () => {
  /** Date-based reference for each kind: the bucket start of an instant, as an ISO string. */
  function reference(iso: string, kind: BucketKind): string {
    const date = new Date(iso);
    const [y, m, d, h, min] = [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes()];
    const monday = () => new Date(Date.UTC(y, m, d - ((date.getUTCDay() + 6) % 7)));
    const at = (value: Date) => value.toISOString().slice(0, 19);
    switch (kind) {
      case 'quarter_hour':
        return at(new Date(Date.UTC(y, m, d, h, min - (min % 15))));
      case 'hour':
        return at(new Date(Date.UTC(y, m, d, h)));
      case 'day':
        return at(new Date(Date.UTC(y, m, d)));
      case 'week':
        return at(monday());
      case 'month':
        return at(new Date(Date.UTC(y, m, 1)));
      case 'week_month': {
        const week = monday();
        const month = new Date(Date.UTC(y, m, 1));
        return at(week > month ? week : month);
      }
    }
  }

  const kinds: BucketKind[] = ['quarter_hour', 'hour', 'day', 'week', 'month', 'week_month'];
  const instants = [
    '2026-06-15T12:34:56Z', // a Monday
    '2026-06-21T23:59:59Z', // a Sunday
    '2026-07-01T00:00:00Z', // a Wednesday: the week starts in June, the piece on the 1st
    '2026-02-28T10:10:00Z',
    '2024-02-29T23:45:00Z', // leap day
    '2000-01-01T00:00:00Z', // a Saturday, PostgreSQL's epoch
    '1999-12-31T23:59:59Z', // before it
    '1970-01-01T00:14:59Z',
    '2099-12-31T18:30:00Z',
  ];

  it.each(kinds)('%s matches the Date reference', (kind) => {
    const bucketOf = bucketFunction(kind);
    for (const iso of instants) {
      const minute = Math.floor(minuteOfIso(iso));
      expect(isoMinute(bucketOf(minute)), `${iso}`).toBe(reference(iso, kind));
    }
  });

  it('the per-day memo does not mix up days that share a slot', () => {
    const monthOf = bucketFunction('month');
    const a = Math.floor(minuteOfIso('2026-06-15T00:00:00Z'));
    const b = a + 4096 * 1440; // the same slot of the 4096-day table
    expect(isoMinute(monthOf(a))).toBe('2026-06-01T00:00:00');
    expect(isoMinute(monthOf(b))).toBe(reference(new Date((b * 60_000) + EPOCH_MS).toISOString(), 'month'));
    expect(isoMinute(monthOf(a))).toBe('2026-06-01T00:00:00');
  });
});
