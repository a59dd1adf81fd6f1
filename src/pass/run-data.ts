/**
 * RunData: what a run loaded, asked in the stats' own terms (executions per script since a
 * window, a time series, top users, users per country …). It is the pass's only view for
 * the rest of the program: tiers, filter indexes and dictionaries stay behind it. Every
 * window asked for must have been planned (src/pass/plan.ts); a source that failed answers
 * with its error.
 */
import { bucketFunction, minuteOf } from '../lib/micros.js';
import type { Granularity } from '../requests/batches.js';
import { type ExecutionPass, filterIndex, rankUsers } from './execution-pass.js';
import type { ScriptCounts } from './folds/script-tiers.js';
import type { HourCount } from './folds/start-hours.js';
import { type LoadPlan, lastTierOf, type SeriesTier, type Since, type SourceName } from './plan.js';
import type { ScriptCatalog } from './scripts.js';
import type { UserTable } from './user-table.js';

export type { HourCount, Since, SourceName };

export interface ScriptExecutions extends ScriptCounts {
  /** null: executions without a script, or whose script the script table does not hold. */
  readonly slug: string | null;
}

export interface SeriesQuery {
  readonly since: Since;
  readonly groupBy: Granularity;
  readonly taskType: string | null;
  readonly status: string | null;
}

export interface SeriesCell {
  /** The bucket's first minute since 2000-01-01, or null for executions without an event time. */
  readonly bucket: number | null;
  readonly status: string | null;
  /** The normalised task name of the executions' scripts. */
  readonly task: string;
  readonly count: number;
}

export interface TopUser {
  readonly userId: string;
  readonly email: string;
  readonly runs: number;
  readonly finished: number;
  /** The user's executions per script over all time, for the scripts the script table holds, in no order. */
  readonly scripts: ReadonlyArray<{ readonly scriptId: string; readonly slug: string; readonly count: number }>;
}

export interface ActiveUsers {
  /** Users with an execution started in the window. */
  readonly users: number;
  /** The countries (not NULL) of those of them `"user"` holds. */
  readonly countries: ReadonlySet<string>;
}

export interface Registrations {
  /** The bucket's first minute since 2000-01-01; null for users without created_at. */
  readonly bucket: number | null;
  readonly users: number;
}

export interface RunData {
  /** The error of each planned source that did not load. */
  readonly failures: ReadonlyMap<SourceName, Error>;
  /** Rows of the script table. */
  scriptCount(): number;
  /** Executions started since the window, per script, in the order the scripts were met; scripts without any left out. */
  executionsByScript(since: Since): readonly ScriptExecutions[];
  /** Executions started since the window, per hour of their start, ascending; empty hours left out. */
  startsPerHour(since: number): readonly HourCount[];
  /** Executions per bucket of their event time at the query's granularity, status and task (see the contract's time_series). */
  timeSeries(query: SeriesQuery): readonly SeriesCell[];
  /** The users with most executions started since the window (scripts matching the filter), ties by id; at most `limit`. */
  topUsers(since: Since, taskType: string | null, limit: number): readonly TopUser[];
  activeUsers(since: Since): ActiveUsers;
  /** Distinct users with any execution. */
  executingUsers(): number;
  /** Users created since the window (every user for null, NULL created_at included). */
  userCount(since: Since): number;
  /** Users created since the window per country, NULL countries left out, in the order the countries were met. */
  usersByCountry(since: Since): ReadonlyMap<string, number>;
  /** Users created since the window (of one country, when given) per bucket of created_at, ascending; undated last. */
  registrations(since: Since, groupBy: Granularity, country: string | null): readonly Registrations[];
}

/** What the loader read: each planned source that loaded. */
export interface LoadedSources {
  readonly scripts?: ScriptCatalog;
  readonly user_table?: UserTable;
  readonly execution_pass?: ExecutionPass;
  /** Email by user id, of the users ranked in some top list. */
  readonly top_user_emails?: ReadonlyMap<string, string>;
}

/** The last series tier a window includes: tiers are newest first, `null` last. */
function lastSeriesTier(tiers: readonly SeriesTier[], since: Since): number {
  const tier = tiers.findIndex((candidate) => candidate.from === since);
  if (tier < 0) throw new Error(`the series window since ${since} µs was not planned`);
  return tier;
}

/** `compute` once per key. */
function memo<K, V>(compute: (key: K) => V): (key: K) => V {
  const values = new Map<K, V>();
  return (key) => {
    if (values.has(key)) return values.get(key)!;
    const value = compute(key);
    values.set(key, value);
    return value;
  };
}

export function createRunData(plan: LoadPlan, loaded: LoadedSources, failures: ReadonlyMap<SourceName, Error>): RunData {
  function source<K extends keyof LoadedSources & SourceName>(name: K): NonNullable<LoadedSources[K]> {
    const value = loaded[name];
    if (value !== undefined) return value as NonNullable<LoadedSources[K]>;
    throw failures.get(name) ?? new Error(`source ${name} was not planned`);
  }
  function fold<T>(value: T | null, what: string): T {
    if (value === null) throw new Error(`${what} was not planned`);
    return value;
  }
  const createdSince = (table: UserTable, row: number, since: Since) => since === null || table.createdAt[row]! >= since;

  const executionsByScript = memo((since: Since): readonly ScriptExecutions[] => {
    const pass = source('execution_pass');
    const totals = fold(pass.scriptTotals, 'executions per script');
    return totals.through(lastTierOf(pass.cuts, since)).map(({ script, counts }) => ({
      slug: script < 0 ? null : (pass.scripts.slugOf(script) ?? null),
      ...counts,
    }));
  });

  /** Every activity window at once, in one loop over the pass's users: how many are active, and their countries. */
  const activity = memo((_: 'all'): Map<Since, ActiveUsers> => {
    const pass = source('execution_pass');
    const users = fold(pass.users, 'the user fold');
    const table = source('user_table');
    const windows = plan.activity;
    const lastTiers = windows.map((since) => lastTierOf(pass.userCuts, since));
    const counts = new Float64Array(windows.length);
    const seen = windows.map(() => new Uint8Array(table.countries.length));
    for (let user = 0; user < users.distinctUsers; user++) {
      const row = users.indexIn(table.ids, user);
      const country = row < 0 ? -1 : table.country[row]!;
      lastTiers.forEach((lastTier, window) => {
        if (!users.activeThrough(user, lastTier)) return;
        counts[window]!++;
        if (country >= 0) seen[window]![country] = 1;
      });
    }
    return new Map(
      windows.map((since, window) => [
        since,
        { users: counts[window]!, countries: new Set(table.countries.filter((_, country) => seen[window]![country] === 1)) },
      ]),
    );
  });

  const usersByCountry = memo((since: Since): ReadonlyMap<string, number> => {
    const table = source('user_table');
    const perCountry = new Float64Array(table.countries.length);
    for (let row = 0; row < table.count; row++) {
      const country = table.country[row]!;
      if (country >= 0 && createdSince(table, row, since)) perCountry[country]!++;
    }
    return new Map(table.countries.flatMap((country, index) => (perCountry[index]! > 0 ? [[country, perCountry[index]!] as const] : [])));
  });

  return {
    failures,
    scriptCount: () => source('scripts').ids.length,

    executionsByScript,

    startsPerHour(since) {
      const pass = source('execution_pass');
      return fold(pass.startHours, 'starts per hour').through(lastTierOf(pass.cuts, since));
    },

    timeSeries({ since, groupBy, taskType, status }) {
      const pass = source('execution_pass');
      const timeline = fold(pass.timeline, 'the time series');
      const lastTier = lastSeriesTier(pass.seriesTiers, since);
      const filter = filterIndex(plan, taskType);
      const rollUp = bucketFunction(groupBy);
      const classes = timeline.classes.flatMap((scriptClass, index) => (scriptClass.matches[filter] ? [index] : []));
      const statuses = timeline.statuses.flatMap((name, index) => (status === null || name === status ? [index] : []));
      const cells: SeriesCell[] = [];
      timeline.slotTier.forEach((tier, slot) => {
        if (tier > lastTier) return;
        const start = timeline.slotStart[slot]!;
        const bucket = start === null ? null : rollUp(start);
        for (const statusIndex of statuses) {
          for (const scriptClass of classes) {
            const count = timeline.count(slot, statusIndex, scriptClass);
            if (count > 0) cells.push({ bucket, status: timeline.statuses[statusIndex]!, task: timeline.classes[scriptClass]!.task, count });
          }
        }
      });
      return cells;
    },

    topUsers(since, taskType, limit) {
      const pass = source('execution_pass');
      const users = fold(pass.users, 'the user fold');
      const emails = source('top_user_emails');
      const { ids, slugs } = pass.scripts.catalog;
      return rankUsers({ ...pass, users }, since, taskType, limit).flatMap((ranked) => {
        const userId = users.idOf(ranked.user);
        const email = emails.get(userId);
        // The API joins "user": a user id without a row there is not listed.
        if (email === undefined) return [];
        // Scripts the script table does not hold have indexes past its rows.
        const scripts = (pass.favourites.get(ranked.user) ?? []).flatMap(({ script, count }) =>
          script < ids.length ? [{ scriptId: ids[script]!, slug: slugs[script]!, count }] : [],
        );
        return [{ userId, email, runs: ranked.runs, finished: ranked.finished, scripts }];
      });
    },

    activeUsers(since) {
      const active = activity('all').get(since);
      if (!active) throw new Error(`the activity window since ${since} µs was not planned`);
      return active;
    },

    executingUsers: () => fold(source('execution_pass').users, 'the user fold').distinctUsers,

    userCount(since) {
      const table = source('user_table');
      if (since === null) return table.count;
      let count = 0;
      for (let row = 0; row < table.count; row++) if (createdSince(table, row, since)) count++;
      return count;
    },

    usersByCountry,

    registrations(since, groupBy, country) {
      const table = source('user_table');
      const wanted = country === null ? -1 : table.countries.indexOf(country);
      if (country !== null && wanted < 0) return [];
      const bucketOf = bucketFunction(groupBy);
      const perBucket = new Map<number, number>();
      let undated = 0;
      for (let row = 0; row < table.count; row++) {
        if (wanted >= 0 && table.country[row] !== wanted) continue;
        const created = table.createdAt[row]!;
        if (created !== created) {
          if (since === null) undated++; // NULL created_at passes only a period without cutoff
          continue;
        }
        if (since !== null && !(created >= since)) continue;
        const bucket = bucketOf(minuteOf(created));
        perBucket.set(bucket, (perBucket.get(bucket) ?? 0) + 1);
      }
      const buckets: Registrations[] = [...perBucket].sort((a, b) => a[0] - b[0]).map(([bucket, users]) => ({ bucket, users }));
      if (undated > 0) buckets.push({ bucket: null, users: undated });
      return buckets;
    },
  };
}
