/**
 * SQL fragments shared by the queries: period filters and tiers on naive-UTC timestamps,
 * time buckets, and text formatting of buckets, so no timestamp is ever parsed in JavaScript.
 */
import { type RawBuilder, sql } from 'kysely';
import type { TierBucket } from '../plan.js';

/** A cutoff bound as `timestamp without time zone`, the type of the API's columns. */
export function timestampParam(naiveUtc: string): RawBuilder<string> {
  return sql<string>`${naiveUtc}::timestamp`;
}

/** `column >= cutoff`, or TRUE for a period without cutoff (`all` keeps NULL timestamps too). */
export function sinceCutoff(column: RawBuilder<unknown>, cutoff: string | null): RawBuilder<boolean> {
  return cutoff === null ? sql<boolean>`true` : sql<boolean>`${column} >= ${timestampParam(cutoff)}`;
}

/**
 * The tier of `column`: the index of the first of `cutoffs` (newest first) it is at or after.
 * A null cutoff (`all`) is the last tier and also takes NULL timestamps; without one, rows
 * older than the last cutoff must be filtered out by the caller. One CASE per row replaces a
 * filtered aggregate per period: periods are then sums of whole tiers.
 */
export function tierOf(column: RawBuilder<unknown>, cutoffs: readonly (string | null)[]): RawBuilder<number> {
  const branches = cutoffs.map((cutoff, index) =>
    cutoff === null
      ? sql`ELSE ${sql.lit(index)}`
      : sql`WHEN ${column} >= ${timestampParam(cutoff)} THEN ${sql.lit(index)}`,
  );
  return sql<number>`CASE ${sql.join(branches, sql` `)} END`;
}

/**
 * The start of the `bucket` holding `column` (a timestamp, not text: grouping by it is
 * cheap, and only the groups are formatted). Fixed-width buckets use date_bin, plain
 * arithmetic, where date_trunc parses its unit on every row; months need date_trunc.
 * The origin is a Monday midnight, so days, hours and quarter-hours fall where date_trunc
 * puts them and weeks start on Monday; it is PostgreSQL's own epoch (plus two days), so
 * no timestamp is far enough from it to overflow. A week_month piece starts at the later
 * of its week's and its month's start.
 */
export function bucketOf(column: RawBuilder<unknown>, bucket: TierBucket): RawBuilder<unknown> {
  switch (bucket) {
    case 'quarter_hour':
      return sql`date_bin('15 minutes', ${column}, timestamp '2000-01-03')`;
    case 'hour':
      return sql`date_bin('1 hour', ${column}, timestamp '2000-01-03')`;
    case 'day':
      return sql`date_bin('1 day', ${column}, timestamp '2000-01-03')`;
    case 'week':
      return sql`date_bin('7 days', ${column}, timestamp '2000-01-03')`;
    case 'month':
      return sql`date_trunc('month', ${column})`;
    case 'week_month':
      return sql`greatest(date_bin('7 days', ${column}, timestamp '2000-01-03'), date_trunc('month', ${column}))`;
  }
}

/** Formats a timestamp like Python's `datetime.isoformat()` of a whole second. */
export function isoSeconds(value: RawBuilder<unknown>): RawBuilder<string | null> {
  return sql<string | null>`to_char(${value}, 'YYYY-MM-DD"T"HH24:MI:SS')`;
}

/** Formats a timestamp as its `YYYY-MM-DD` day. */
export function isoDay(value: RawBuilder<unknown>): RawBuilder<string | null> {
  return sql<string | null>`to_char(${value}, 'YYYY-MM-DD')`;
}

/** Column aliases must be identifiers; periods and window names already are. */
export function alias(...parts: string[]): string {
  return parts.join('__');
}
