/**
 * The `"user"` table, streamed once by binary COPY into columns (it is bounded by the
 * number of users): created_at for the periods, the country, and the id for joining the
 * executions' users. Every user section is computed from these columns.
 */
import type { Db } from '../io/db.js';
import { BinaryCopyParser } from './copy-parser.js';
import { type CopyPool, type CopyStatements, copyColumns, queryCopy, tableCopy } from './copy.js';
import { TextDictionary, UuidDictionary } from './dictionary.js';
import type { UserColumns } from './plan.js';
import { floorDiv, MICROS_PER_MINUTE, MINUTES_PER_DAY } from '../lib/micros.js';
import { lowerBound } from '../lib/sorted.js';

export interface LoadedUsers {
  /** Users in the table. */
  readonly count: number;
  /** created_at in µs since 2000-01-01 (NaN for NULL), by row; empty when not read. */
  readonly createdAt: Float64Array;
  /** Index into `countries` by row (-1 for NULL); empty when not read. */
  readonly country: Int32Array;
  readonly countries: readonly string[];
  /** Row of each user id, when ids were read. */
  readonly ids: UuidDictionary;
  readonly bytes: number;
  /**
   * The rows by day of created_at (see usersByDay), when the producer keeps them between runs
   * (the rows held in memory, until they change); absent, each run computes them.
   */
  byDay?(): UsersByDay;
  /**
   * A value computed from the users created since `since` (null: every user), when the
   * producer keeps such values between runs (see UserRows.keep); absent, each run computes it.
   */
  keep?<T>(key: string, since: number | null, compute: () => T): T;
}

/** The dated rows in order of their day of created_at, with each one's day; and the undated rows. */
export interface UsersByDay {
  /** Day (since 2000-01-01) of each entry of `rows`, ascending. */
  readonly days: Float64Array;
  readonly rows: Int32Array;
  readonly undated: readonly number[];
}

const MICROS_PER_DAY = MINUTES_PER_DAY * MICROS_PER_MINUTE;
/** Rows per day in a sort key (day × ROW_RANGE + row), and the dates that keeps exact. */
const ROW_RANGE = 2 ** 26;
const MAX_DATED = 2 ** 26 * MICROS_PER_DAY;

/**
 * The user table's dated rows in order of their day of created_at (a window is then a run
 * of them from its first day on, and a bucket of whole days is found once a day), and the
 * undated rows. Each dated row is sorted as one number, day × 2^26 + row: exact for every
 * int8 timestamp (|days| < 2^27) and up to 2^26 users.
 */
export function usersByDay(table: Pick<LoadedUsers, 'count' | 'createdAt'>): UsersByDay {
  const keys = new Float64Array(table.count);
  let dated = 0;
  const undated: number[] = [];
  for (let row = 0; row < table.count; row++) {
    const created = table.createdAt[row]!;
    if (created !== created) undated.push(row);
    else keys[dated++] = floorDiv(Math.min(Math.max(created, -MAX_DATED), MAX_DATED), MICROS_PER_DAY) * ROW_RANGE + row;
  }
  const sorted = keys.subarray(0, dated).sort();
  const days = new Float64Array(sorted.length);
  const rows = new Int32Array(sorted.length);
  sorted.forEach((key, at) => {
    days[at] = Math.floor(key / ROW_RANGE);
    rows[at] = key - days[at]! * ROW_RANGE;
  });
  return { days, rows, undated };
}

/** The COPY of the columns wanted (the SELECT built and compiled with Kysely), and their order. */
export function userCopy(db: Db, columns: UserColumns): { statements: CopyStatements; fields: string[] } {
  const fields = [
    ...(columns.id ? ['id' as const] : []),
    ...(columns.country ? ['country' as const] : []),
    ...(columns.createdAt ? ['created_at' as const] : []),
  ];
  // COPY needs at least one column; a constant keeps the row count when none is wanted.
  const query = fields.length > 0 ? db.selectFrom('user').select(fields) : db.selectFrom('user').select((eb) => eb.lit(1).as('one'));
  return { statements: { table: tableCopy('user', fields), query: queryCopy(query.compile()) }, fields: fields.length > 0 ? fields : ['one'] };
}

export async function loadUserTable(db: Db, pool: CopyPool, columns: UserColumns, signal?: AbortSignal): Promise<LoadedUsers> {
  const { statements, fields } = userCopy(db, columns);
  const idField = fields.indexOf('id');
  const countryField = fields.indexOf('country');
  const createdField = fields.indexOf('created_at');
  // Users are many: the table starts where the user fold's does, instead of doubling up to it from 1,024.
  const ids = new UuidDictionary(idField >= 0 ? 64 * 1024 : 16);
  const countries = new TextDictionary();
  let createdAt = new Float64Array(createdField >= 0 ? 1024 : 0);
  let country = new Int32Array(countryField >= 0 ? 1024 : 0);
  let count = 0;
  const parser = new BinaryCopyParser(fields.length, (tuples) => {
    const first = count;
    count += tuples.size;
    if (createdField >= 0 && count > createdAt.length) createdAt = widen(createdAt, new Float64Array(2 * count));
    if (countryField >= 0 && count > country.length) country = widen(country, new Int32Array(2 * count));
    for (let tuple = 0; tuple < tuples.size; tuple++) {
      const row = first + tuple;
      // Beyond ±2^53 µs (285 years from 2000) the Number is within 64 µs: it orders right against cutoffs.
      if (createdField >= 0) createdAt[row] = tuples.int8(tuple, createdField);
      // Dictionary index 0 is NULL: countries are numbered from 0 in `countries`, NULL is -1.
      if (countryField >= 0) country[row] = countries.indexOf(tuples, tuple, countryField) - 1;
      if (idField >= 0) ids.indexOf(tuples, tuple, idField);
    }
  });
  const { bytes } = await copyColumns(pool, statements, parser, signal);
  return { count, createdAt, country, countries: countries.names.slice(1) as string[], ids, bytes };
}

function widen<T extends Float64Array | Int32Array>(array: T, grown: T): T {
  grown.set(array);
  return grown;
}

/** Where the dated rows of a window (from `since` on) start in `byDay`: at its first day (the rows of that day still need checking). */
export function firstOfWindow({ days }: UsersByDay, since: number | null): number {
  if (since === null) return 0;
  return lowerBound(days, floorDiv(since, MICROS_PER_DAY));
}
