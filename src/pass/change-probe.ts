/**
 * The change probe: one small read-only statement whose answer, the fingerprint, differs
 * from the previous one whenever something a payload shows may have changed, and stays
 * the same while the API only writes what no payload shows (a running execution's
 * `progress`, `results` and `params`, a user's login and activity timestamps).
 *
 * It reads indexes the API already has, never a whole table: the newest start and end
 * dates, the statuses of the WATCHED_RUNS newest runs by start and by end, the newest and
 * oldest registration, the script table's ids and slugs, and the insert and delete counters
 * of `execution` and `"user"`. What it sees, what it misses and what it costs:
 * docs/architecture.md#the-change-probe.
 *
 * The same statement can also find the validity horizon of a run at an instant `now`: the last
 * millisecond until which, the data unchanged, every payload computed at `now` stays exactly
 * what the API would answer (see `validUntilOf`). schedule's change mode leaves that part out:
 * it finds the horizon in the rows it holds (src/state/horizon.ts).
 */
import { WINDOWS_MS } from '../lib/time.js';

/** How many of the newest executions, by start and by end, the probe watches status by status. */
export const WATCHED_RUNS = 500;
/**
 * Where one status's count in a window stops (four times the runs watched): runs that share a
 * cut's instant all fall in its window, and a pathological table (thousands of runs at one
 * instant) must not make the probe expensive.
 */
export const WINDOW_CAP_FACTOR = 4;

/** Timestamps as text that depends on no session setting (DateStyle); infinities come out as NULL. */
const iso = (expression: string) => `to_char(${expression}, 'YYYY-MM-DD"T"HH24:MI:SS.US')`;

/** Counts the runs of one status (`statusIs`: a condition on `e.status`) whose `column` is at or after `since`, up to `cap`. */
const windowCount = (statusIs: string, column: 'start_date' | 'end_date', since: string, cap: number) =>
  // ORDER BY … LIMIT keeps the plan an index-only range scan of (status, column): without it the
  // planner, blind to the cut's value, estimates a third of the table and scans the heap.
  `(SELECT count(*) FROM (SELECT FROM execution e WHERE ${statusIs} AND e.${column} >= coalesce(${since}, '-infinity')` +
  ` ORDER BY e.${column} DESC LIMIT ${cap}) w)`;

/** The K-th newest non-null value of an indexed column: one backward index-only scan of K entries. */
const kthNewest = (table: string, column: string, k: number) =>
  `(SELECT ${column} FROM ${table} WHERE ${column} IS NOT NULL ORDER BY ${column} DESC OFFSET ${k - 1} LIMIT 1)`;

/** The run's `now` (the statement's one parameter, ISO text with a zone) as the API's naive UTC. */
const NOW = `($1::timestamptz AT TIME ZONE 'UTC')`;

/**
 * The oldest of `start_date`, `end_date` and `created_at` at or after `now - W`: one descent of
 * each column's index. Event times (end or start) are among them, so the bound can only come
 * earlier than the exact one, never later.
 */
const firstInWindow = (windowMs: number) => {
  const cut = `${NOW} - interval '${windowMs / 1000} seconds'`;
  return `least((SELECT min(start_date) FROM execution WHERE start_date >= ${cut}),
    (SELECT min(end_date) FROM execution WHERE end_date >= ${cut}),
    (SELECT min(created_at) FROM "user" WHERE created_at >= ${cut}))`;
};

/** µs since 1970 as text (exact beyond 2^53), NULL for no row or an infinite value. */
const epochMicros = (column: string) => `CASE WHEN isfinite(${column}) THEN (extract(epoch FROM ${column}) * 1000000)::bigint::text END`;

/**
 * The hash of one script row the script digest sums. Exported with the source's two parts so
 * that a read can carry the digest of exactly what it read, computed in its own statement, to
 * be compared with a later fingerprint (src/state/run-reads.ts).
 */
export const SCRIPT_ROW_HASH = 'uuid_hash_extended(id, hashtextextended(slug, 0))';
/** The database's oid, as text: `source.database`. */
export const SOURCE_DATABASE_SQL = '(SELECT oid FROM pg_database WHERE datname = current_database())::text';
/** The digest of the three relations' columns, as text: `source.columns`. */
export const SOURCE_COLUMNS_SQL =
  // relkind by oid, a column at a time: a join hashes the whole of pg_class (measured: 0.15 against 0.06 ms).
  `(SELECT coalesce(sum(hashtextextended(concat_ws('/', a.attrelid, (SELECT r.relkind FROM pg_class r WHERE r.oid = a.attrelid),
                                                  a.attname, a.atttypid, a.atttypmod), 0)), 0)
     FROM pg_attribute a
    WHERE a.attrelid IN (to_regclass('execution'), to_regclass('"user"'), to_regclass('script'))
      AND a.attnum > 0 AND NOT a.attisdropped)::text`;

/**
 * The statement. Every part is an index descent or a range of at most four times `watched` index
 * entries, over the API's own indexes: execution (status), (start_date), (end_date),
 * (status, start_date), (status, end_date); user (created_at); script is read whole (it is
 * small). The counters come from the statistics system (pg_stat_get_*), readable by any role.
 */
export const CHANGE_PROBE_SQL = changeProbeSql(WATCHED_RUNS);
/** The statement without the horizon (see probeChanges). */
export const FINGERPRINT_PROBE_SQL = changeProbeSql(WATCHED_RUNS, false);

/**
 * The statement watching the `watched` newest runs by start and by end (tests watch a few);
 * with `horizon`, it also finds the validity horizon at its one parameter, the instant `now`
 * (without, it takes no parameter: schedule's change mode finds the horizon in the rows it holds).
 */
export function changeProbeSql(watched: number, horizon = true): string {
  const cap = WINDOW_CAP_FACTOR * watched;
  const horizonPart = horizon
    ? `,
horizon AS MATERIALIZED (
  SELECT ${WINDOWS_MS.map((windowMs, index) => `${firstInWindow(windowMs)} AS w${index}`).join(',\n         ')}
)`
    : '';
  const horizonColumn = horizon ? `\n  json_build_array(${WINDOWS_MS.map((_, index) => epochMicros(`h.w${index}`)).join(', ')})::text AS horizon,` : '';
  return `
WITH RECURSIVE statuses(status) AS (
  -- Every distinct status, one index descent each (PostgreSQL has no skip scan before 18).
  SELECT min(status) FROM execution
  UNION ALL
  SELECT (SELECT min(e.status) FROM execution e WHERE e.status > s.status) FROM statuses s WHERE s.status IS NOT NULL
),
cut AS MATERIALIZED (
  SELECT ${kthNewest('execution', 'start_date', watched)} AS started, ${kthNewest('execution', 'end_date', watched)} AS ended
),
windows AS (
  SELECT s.status,
         ${windowCount('e.status = s.status', 'start_date', 'c.started', cap)} AS started,
         ${windowCount('e.status = s.status', 'end_date', 'c.ended', cap)} AS ended
    FROM statuses s, cut c WHERE s.status IS NOT NULL
  UNION ALL
  SELECT NULL,
         ${windowCount('e.status IS NULL', 'start_date', 'c.started', cap)},
         ${windowCount('e.status IS NULL', 'end_date', 'c.ended', cap)}
    FROM cut c
)${horizonPart}
SELECT
  ${iso('(SELECT max(start_date) FROM execution)')} AS newest_start,
  ${iso('(SELECT max(end_date) FROM execution)')} AS newest_end,
  ${iso('c.started')} AS started_since,
  ${iso('c.ended')} AS ended_since,
  (SELECT json_agg(json_build_array(w.status, w.started, w.ended) ORDER BY w.status NULLS LAST) FROM windows w)::text AS by_status,
  pg_stat_get_tuples_inserted(to_regclass('execution'))::text AS executions_inserted,
  pg_stat_get_tuples_deleted(to_regclass('execution'))::text AS executions_deleted,
  ${iso('(SELECT max(created_at) FROM "user")')} AS newest_user,
  ${iso('(SELECT min(created_at) FROM "user")')} AS oldest_user,
  pg_stat_get_tuples_inserted(to_regclass('"user"'))::text AS users_inserted,
  pg_stat_get_tuples_deleted(to_regclass('"user"'))::text AS users_deleted,
  (SELECT count(*) FROM script)::text AS scripts,
  -- The uuid hashed as it is stored, not as text (0.07 against 0.13 ms for 500 scripts).
  (SELECT coalesce(sum(${SCRIPT_ROW_HASH}), 0) FROM script)::text AS script_digest,${horizonColumn}
  ${SOURCE_DATABASE_SQL} AS database,
  ${SOURCE_COLUMNS_SQL} AS columns
FROM cut c${horizon ? ', horizon h' : ''}`;
}

/**
 * The prepared statements' names: each connection plans a statement once (planning it costs
 * several times what running it does), then only binds and runs it.
 */
export const CHANGE_PROBE_NAME = 'stats-refresh-change-probe';
const FINGERPRINT_PROBE_NAME = 'stats-refresh-change-fingerprint';

/** Runs of one status in the two windows (WATCHED_RUNS newest by start, by end). */
export interface StatusWindow {
  /** As stored; null for executions without a status. */
  readonly status: string | null;
  /** Runs of this status that started at or after `startedSince`. */
  readonly started: number;
  /** Runs of this status that ended at or after `endedSince`. */
  readonly ended: number;
}

/**
 * What the probe saw. Two fingerprints that differ in anything mean "something a payload shows
 * may have changed"; equal ones mean nothing it watches changed. Timestamps are the API's UTC
 * values as `YYYY-MM-DDTHH:MM:SS.ffffff` (null: no row, or an infinite value).
 */
export interface ChangeFingerprint {
  readonly executions: {
    readonly newestStart: string | null;
    readonly newestEnd: string | null;
    /** Start date of the WATCHED_RUNS-th newest run (null: fewer runs, all are watched). */
    readonly startedSince: string | null;
    /** End date of the WATCHED_RUNS-th newest ended run. */
    readonly endedSince: string | null;
    /** Every status present, in order, NULL last; each with its runs in the two windows. */
    readonly byStatus: readonly StatusWindow[];
    /** pg_stat counters (lagged, reset by a crash): n_tup_ins and n_tup_del. */
    readonly inserted: string | null;
    readonly deleted: string | null;
  };
  readonly users: {
    readonly newestCreated: string | null;
    readonly oldestCreated: string | null;
    readonly inserted: string | null;
    readonly deleted: string | null;
  };
  readonly scripts: {
    readonly count: string;
    /** Sum of a 64-bit hash of each row's id and slug. */
    readonly digest: string;
  };
  /**
   * Where the data comes from: the database's oid (DATABASE_URL pointed at another database
   * with the same rows) and a digest of the three relations' columns (a column added, dropped
   * or of another type, a table replaced by a view or recreated): values kept across such a
   * change would skip the catalog's type check.
   */
  readonly source: {
    readonly database: string;
    readonly columns: string;
  };
}

/** The subset of a node-postgres Pool or Client the probe needs. */
export interface ProbeConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

interface ProbeRow {
  newest_start: string | null;
  newest_end: string | null;
  started_since: string | null;
  ended_since: string | null;
  by_status: string | null;
  executions_inserted: string | null;
  executions_deleted: string | null;
  newest_user: string | null;
  oldest_user: string | null;
  users_inserted: string | null;
  users_deleted: string | null;
  scripts: string;
  script_digest: string;
  /** Only in the statement with the horizon. */
  horizon?: string;
  database: string;
  columns: string;
}

/** What one probe read: the fingerprint, and the validity horizon of payloads computed at `now`. */
export interface ProbeReading {
  readonly fingerprint: ChangeFingerprint;
  readonly now: Date;
  /** See `validUntilOf`; null: no time bound (no row in any window, or beyond what a Date holds). */
  readonly validUntil: Date | null;
}

/**
 * Runs the probe's one statement and returns what it saw, with the horizon of payloads
 * computed at `now`. Rejects as the statement does (no retry here).
 */
export async function probeAt(connection: ProbeConnection, now: Date, watched = WATCHED_RUNS): Promise<ProbeReading> {
  const statement =
    watched === WATCHED_RUNS
      ? { name: CHANGE_PROBE_NAME, text: CHANGE_PROBE_SQL }
      : { name: `${CHANGE_PROBE_NAME}-${watched}`, text: changeProbeSql(watched) };
  const { rows } = await connection.query({ ...statement, values: [now.toISOString()] });
  const row = rows[0] as ProbeRow | undefined;
  if (!row) throw new Error('the change probe returned no row');
  const firsts = (JSON.parse(row.horizon ?? '[]') as Array<string | null>).map((micros) => (micros === null ? null : BigInt(micros)));
  return { fingerprint: fingerprintOf(row), now, validUntil: validUntilOf(firsts) };
}

/**
 * Runs the probe's statement without the horizon (a fifth cheaper) and returns the fingerprint,
 * equal to what probeAt would see. Rejects as the statement does (no retry here).
 */
export async function probeChanges(connection: ProbeConnection, watched = WATCHED_RUNS): Promise<ChangeFingerprint> {
  const statement =
    watched === WATCHED_RUNS
      ? { name: FINGERPRINT_PROBE_NAME, text: FINGERPRINT_PROBE_SQL }
      : { name: `${FINGERPRINT_PROBE_NAME}-${watched}`, text: changeProbeSql(watched, false) };
  const { rows } = await connection.query({ ...statement, values: [] });
  const row = rows[0] as ProbeRow | undefined;
  if (!row) throw new Error('the change probe returned no row');
  return fingerprintOf(row);
}

const MAX_DATE_MS = 8.64e15;

/**
 * The last millisecond at which payloads computed at `now` from unchanged data are still
 * exact. `firsts[i]`: the oldest time (µs since 1970) at or after `now - WINDOWS_MS[i]`, or
 * null. Every window is `time >= now' - W` without an upper bound, so as `now'` moves on rows
 * only ever leave a window, and the first to leave W is its oldest row, at the first µs after
 * that row's time + W: the payloads are unchanged for every `now'` with `now' * 1000 <=
 * min(first + W)` µs, that is every millisecond up to floor(min(first + W) / 1000).
 */
export function validUntilOf(firsts: ReadonlyArray<bigint | null>): Date | null {
  const bounds = firsts.flatMap((first, index) => (first === null ? [] : [first + BigInt(WINDOWS_MS[index]!) * 1000n]));
  if (bounds.length === 0) return null;
  const bound = bounds.reduce((least, until) => (until < least ? until : least));
  // BigInt division truncates toward zero; a floor is wanted before 1970 too.
  const lastMs = Number(bound / 1000n - (bound % 1000n < 0n ? 1n : 0n));
  if (lastMs > MAX_DATE_MS) return null;
  return new Date(Math.max(lastMs, -MAX_DATE_MS));
}

function fingerprintOf(row: ProbeRow): ChangeFingerprint {
  const byStatus = JSON.parse(row.by_status ?? '[]') as Array<[string | null, number, number]>;
  return {
    executions: {
      newestStart: row.newest_start,
      newestEnd: row.newest_end,
      startedSince: row.started_since,
      endedSince: row.ended_since,
      byStatus: byStatus.map(([status, started, ended]) => ({ status, started, ended })),
      inserted: row.executions_inserted,
      deleted: row.executions_deleted,
    },
    users: {
      newestCreated: row.newest_user,
      oldestCreated: row.oldest_user,
      inserted: row.users_inserted,
      deleted: row.users_deleted,
    },
    scripts: { count: row.scripts, digest: row.script_digest },
    source: { database: row.database, columns: row.columns },
  };
}

/** The format of fingerprintText: a later build that changes what the probe reads changes it, so old texts never match. */
const TEXT_VERSION = 'probe-v3';

/** The fingerprint as one stable string (for Redis, logs): equal strings if and only if equal fingerprints. */
export function fingerprintText(fingerprint: ChangeFingerprint): string {
  // probeChanges builds every object in one fixed key order.
  return `${TEXT_VERSION} ${JSON.stringify(fingerprint)}`;
}

/**
 * What differs between two fingerprints, as paths (`executions.newestStart`,
 * `executions.byStatus["RUNNING"].started`, `scripts.digest`…), sorted; empty when nothing does.
 * For logs and metrics: why a run started.
 */
export function changedParts(before: ChangeFingerprint, after: ChangeFingerprint): string[] {
  const was = leaves(before);
  const now = leaves(after);
  const paths = new Set([...was.keys(), ...now.keys()]);
  return [...paths].filter((path) => was.get(path) !== now.get(path)).sort();
}

/** Every value of a fingerprint by its path; a status's windows under its name as JSON (`null` for none). */
function leaves(fingerprint: ChangeFingerprint): Map<string, string | number | null> {
  const values = new Map<string, string | number | null>();
  for (const [group, fields] of Object.entries(fingerprint) as Array<[string, Record<string, unknown>]>) {
    for (const [field, value] of Object.entries(fields)) {
      if (field !== 'byStatus') {
        values.set(`${group}.${field}`, value as string | null);
        continue;
      }
      for (const window of value as StatusWindow[]) {
        const name = JSON.stringify(window.status);
        values.set(`${group}.byStatus[${name}].started`, window.started);
        values.set(`${group}.byStatus[${name}].ended`, window.ended);
      }
    }
  }
  return values;
}
