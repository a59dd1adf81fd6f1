/**
 * SQL fragments shared by the queries: period filters on naive-UTC timestamps and
 * text formatting of buckets, so no timestamp is ever parsed in JavaScript.
 */
import { type RawBuilder, sql } from 'kysely';

/** A cutoff bound as `timestamp without time zone`, the type of the API's columns. */
export function timestampParam(naiveUtc: string): RawBuilder<string> {
  return sql<string>`${naiveUtc}::timestamp`;
}

/** `column >= cutoff`, or TRUE for a period without cutoff (`all` keeps NULL timestamps too). */
export function sinceCutoff(column: RawBuilder<unknown>, cutoff: string | null): RawBuilder<boolean> {
  return cutoff === null ? sql<boolean>`true` : sql<boolean>`${column} >= ${timestampParam(cutoff)}`;
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
