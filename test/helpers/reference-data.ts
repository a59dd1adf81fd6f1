/**
 * A reference RunData: the contract's definitions applied to plain rows, one row at a
 * time, with no tiers, dictionaries or folds. Stats unit tests build their data with it,
 * and the pass's RunData is compared with it on the same rows. Timestamps are µs since
 * 2000-01-01 (null for NULL); the exact average duration uses src/lib/pg-numeric.ts,
 * which test/integration/average.test.ts proves against PostgreSQL.
 */
import { DurationTable } from '../../src/lib/pg-numeric.js';
import { bucketFunction, minuteOf } from '../../src/lib/micros.js';
import { compareText } from '../../src/lib/compare.js';
import { taskName } from '../../src/lib/slug.js';
import type { Granularity } from '../../src/requests/batches.js';
import type {
  ActiveUsers,
  HourCount,
  Registrations,
  RunData,
  ScriptExecutions,
  SeriesCell,
  SeriesQuery,
  Since,
  SourceName,
  TopUser,
} from '../../src/pass/run-data.js';

export interface ScriptRow {
  readonly id: string;
  readonly slug: string;
}

export interface UserRow {
  readonly id: string;
  readonly email: string;
  readonly country: string | null;
  readonly createdAt: number | null;
}

/** µs since 2000-01-01: a Number, or a bigint beyond ±2^53 (or ±Infinity for PostgreSQL's infinite timestamps). */
export type Micros = number | bigint;

export interface ExecutionRow {
  /** Exact: a bigint where a Number would not be (beyond ±2^53 µs). */
  readonly start: Micros | null;
  readonly end: Micros | null;
  readonly status: string | null;
  readonly scriptId: string | null;
  readonly userId: string | null;
}

export interface Rows {
  readonly scripts: readonly ScriptRow[];
  readonly users: readonly UserRow[];
  readonly executions: readonly ExecutionRow[];
}

const COMPLETED = new Set(['FINISHED', 'FAILED', 'CANCELLED']);

/** SQL's LIKE, case-sensitive, with `\` escaping (PostgreSQL's default). */
export function like(text: string, pattern: string): boolean {
  let regex = '';
  for (let at = 0; at < pattern.length; at++) {
    const char = pattern[at]!;
    if (char === '\\' && at + 1 < pattern.length) regex += pattern[++at]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (char === '%') regex += '[\\s\\S]*';
    else if (char === '_') regex += '[\\s\\S]';
    else regex += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${regex}$`, 'u').test(text);
}

const inWindow = (at: Micros | null, since: Since) => since === null || (at !== null && at >= since);
const finite = (at: Micros) => typeof at === 'bigint' || Number.isFinite(at);

function countBy<K>(items: Iterable<K>): Map<K, number> {
  const counts = new Map<K, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

/** RunData over `rows`; `failures` makes sources fail as a loader would report them. */
export function referenceData(rows: Rows, failures: ReadonlyMap<SourceName, Error> = new Map()): RunData {
  const slugOf = new Map(rows.scripts.map((script) => [script.id, script.slug]));
  const userOf = new Map(rows.users.map((user) => [user.id, user]));
  const matches = (slug: string, taskType: string | null) => taskType === null || like(slug, `%${taskType}%`);

  return {
    failures,
    scriptCount: () => rows.scripts.length,
    scriptSlugs: () => rows.scripts.map((script) => script.slug),
    executionStatuses: () => [...new Set(rows.executions.flatMap((row) => (row.status === null ? [] : [row.status])))],

    executionsByScript(since) {
      // The pass's order: executions without a script, then the script table's, then unknown ids as met.
      const groups = new Map<string | null, ExecutionRow[]>([[null, []], ...rows.scripts.map((script) => [script.id, []] as [string, ExecutionRow[]])]);
      for (const row of rows.executions) {
        if (!inWindow(row.start, since)) continue;
        const group = groups.get(row.scriptId) ?? [];
        groups.set(row.scriptId, group);
        group.push(row);
      }
      return [...groups].flatMap(([scriptId, group]): ScriptExecutions[] => {
        if (group.length === 0) return [];
        const timed = group.filter((row) => row.start !== null && row.end !== null);
        const durations = new DurationTable(1);
        for (const { start, end } of timed) {
          if (typeof start === 'number' && typeof end === 'number') durations.add(0, end - start);
          else durations.addExact(0, BigInt(end!) - BigInt(start!));
        }
        return [
          {
            slug: scriptId === null ? null : (slugOf.get(scriptId) ?? null),
            total: group.length,
            finished: group.filter((row) => row.status === 'FINISHED').length,
            failed: group.filter((row) => row.status === 'FAILED').length,
            cancelled: group.filter((row) => row.status === 'CANCELLED').length,
            timed: timed.length,
            timedFinished: timed.filter((row) => row.status === 'FINISHED').length,
            timedAvgMinutes: timed.length > 0 ? durations.total([0]).averageText : null,
          },
        ];
      });
    },

    startsPerHour(since) {
      const hours = countBy(
        rows.executions.filter((row) => row.start !== null && finite(row.start) && row.start >= since).map((row) => Math.floor(minuteOf(row.start!) / 60) * 60),
      );
      return [...hours].sort((a, b) => a[0] - b[0]).map(([hour, count]): HourCount => ({ hour, count }));
    },

    timeSeries({ since, groupBy, taskType, status }: SeriesQuery) {
      const bucketOf = bucketFunction(groupBy);
      const cells = new Map<string, SeriesCell>();
      for (const row of rows.executions) {
        const slug = row.scriptId === null ? undefined : slugOf.get(row.scriptId);
        if (slug === undefined || !matches(slug, taskType)) continue;
        const event = row.status !== null && COMPLETED.has(row.status) && row.end !== null ? row.end : row.start;
        if (!inWindow(event, since) || (status !== null && row.status !== status)) continue;
        const bucket = event === null ? null : bucketOf(minuteOf(event));
        const task = taskName(slug);
        const key = JSON.stringify([bucket, row.status, task]);
        const cell = cells.get(key) ?? { bucket, status: row.status, task, count: 0 };
        cells.set(key, { ...cell, count: cell.count + 1 });
      }
      return [...cells.values()];
    },

    topUsers(since, taskType, limit) {
      const counted = new Map<string, { runs: number; finished: number }>();
      for (const row of rows.executions) {
        const slug = row.scriptId === null ? undefined : slugOf.get(row.scriptId);
        // The API joins "user" and script.
        if (row.userId === null || !userOf.has(row.userId) || slug === undefined || !matches(slug, taskType)) continue;
        if (!inWindow(row.start, since)) continue;
        const user = counted.get(row.userId) ?? { runs: 0, finished: 0 };
        user.runs++;
        if (row.status === 'FINISHED') user.finished++;
        counted.set(row.userId, user);
      }
      return [...counted]
        .sort((a, b) => b[1].runs - a[1].runs || compareText(a[0], b[0]))
        .slice(0, limit)
        .map(([userId, { runs, finished }]): TopUser => {
          const perScript = countBy(
            rows.executions.filter((row) => row.userId === userId && row.scriptId !== null && slugOf.has(row.scriptId)).map((row) => row.scriptId!),
          );
          const scripts = [...perScript].map(([scriptId, count]) => ({ scriptId, slug: slugOf.get(scriptId)!, count }));
          return { userId, email: userOf.get(userId)!.email, runs, finished, scripts };
        });
    },

    activeUsers(since): ActiveUsers {
      const active = new Set(rows.executions.filter((row) => row.userId !== null && inWindow(row.start, since)).map((row) => row.userId!));
      const countries = new Set([...active].flatMap((id) => (userOf.get(id)?.country == null ? [] : [userOf.get(id)!.country!])));
      return { users: active.size, countries };
    },

    executingUsers: () => new Set(rows.executions.flatMap((row) => (row.userId === null ? [] : [row.userId]))).size,

    userCount: (since) => rows.users.filter((user) => inWindow(user.createdAt, since)).length,

    usersByCountry(since) {
      return countBy(rows.users.filter((user) => user.country !== null && inWindow(user.createdAt, since)).map((user) => user.country!));
    },

    registrations(since: Since, groupBy: Granularity, country: string | null): Registrations[] {
      const chosen = rows.users.filter((user) => (country === null || user.country === country) && inWindow(user.createdAt, since));
      const bucketOf = bucketFunction(groupBy);
      const dated = countBy(chosen.filter((user) => user.createdAt !== null).map((user) => bucketOf(minuteOf(user.createdAt!))));
      const undated = chosen.filter((user) => user.createdAt === null).length;
      return [
        ...[...dated].sort((a, b) => a[0] - b[0]).map(([bucket, users]) => ({ bucket, users })),
        ...(undated > 0 ? [{ bucket: null, users: undated }] : []),
      ];
    },
  };
}
