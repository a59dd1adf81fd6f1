/**
 * RunData: what a run loaded, asked in the stats' own terms (executions per script since a
 * window, a time series, top users, users per country …). It is the pass's only view for
 * the rest of the program: tiers, filter indexes and dictionaries stay behind it. Every
 * window asked for must have been planned (src/pass/plan.ts); a source that failed answers
 * with its error.
 */
import { bucketFunction, floorDiv, MICROS_PER_MINUTE, MINUTES_PER_DAY, minuteOf } from '../lib/micros.js';
import type { Granularity } from '../requests/batches.js';
import { type ExecutionPass, filterIndex, rankUsers } from './execution-pass.js';
import type { ScriptCounts } from './folds/script-tiers.js';
import type { HourCount } from './folds/start-hours.js';
import { type LoadPlan, lastTierOf, type SeriesTier, type Since, type SourceName } from './plan.js';
import type { ScriptRows } from './scripts.js';
import { firstOfWindow, type LoadedUsers, usersByDay } from './user-table.js';

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

/**
 * What sections are built from, as values that stay equal while it does not change: the
 * producer keeps its sources between runs (rows in memory); a source it does not version
 * answers null (its sections are built afresh each run).
 */
export interface SourceVersions {
  /** The pass's content version: equal while its folds hold the same rows in the same tiers (src/state/kept-passes.ts). */
  pass(): number | null;
  /** The user table and its version: the same table at the same version holds the same rows. */
  users(): readonly [table: object, version: number] | null;
  /**
   * Where the window since `since` starts among the user table's dated rows (how many were
   * created before it; -1 for every row): at one version, two instants with the same start
   * hold the same rows in their windows.
   */
  usersBefore(since: Since): number;
  /** The top users' emails, as text (the same text, the same emails). */
  emails(): string;
}

export interface RunData {
  /** The error of each planned source that did not load. */
  readonly failures: ReadonlyMap<SourceName, Error>;
  /** Present when the producer versions its sources (rows in memory): see SourceVersions. */
  readonly versions?: SourceVersions;
  /** Rows of the script table. */
  scriptCount(): number;
  /** Every slug of the script table (the names our rules can produce come from them). */
  scriptSlugs(): readonly string[];
  /** Every status the executions hold (NULL left out); empty when no section read the status column. */
  executionStatuses(): readonly string[];
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
  readonly scripts?: ScriptRows;
  /** `version`: the rows in memory's (src/state/user-rows.ts), moved by every upsert that changes a row. */
  readonly user_table?: LoadedUsers & { readonly version?: number };
  /** `version`: a kept pass's content version (src/state/kept-passes.ts). */
  readonly execution_pass?: ExecutionPass & { readonly version?: number };
  /** Email by user id, of the users ranked in some top list. */
  readonly top_user_emails?: ReadonlyMap<string, string>;
}

/** The last series tier a window includes: tiers are newest first, `null` last. */
function lastSeriesTier(tiers: readonly SeriesTier[], since: Since): number {
  const tier = tiers.findIndex((candidate) => candidate.from === since);
  if (tier < 0) throw new Error(`the series window since ${since} µs was not planned`);
  return tier;
}

const MICROS_PER_DAY = MINUTES_PER_DAY * MICROS_PER_MINUTE;

/** `compute` once, when first asked. */
function once<T>(compute: () => T): () => T {
  let value: { readonly result: T } | undefined;
  return () => (value ??= { result: compute() }).result;
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
  const createdSince = (table: LoadedUsers, row: number, since: Since) => since === null || table.createdAt[row]! >= since;

  const executionsByScript = memo((since: Since): readonly ScriptExecutions[] => {
    const pass = source('execution_pass');
    const totals = fold(pass.scriptTotals, 'executions per script');
    return totals.through(lastTierOf(pass.cuts, since)).map(({ script, counts }) => ({
      slug: script < 0 ? null : (pass.scripts.slugOf(script) ?? null),
      ...counts,
    }));
  });

  /** The distinct task names of the timeline's classes, and the task of each class. */
  const timelineTasks = once(() => {
    const { classes } = fold(source('execution_pass').timeline, 'the time series');
    const tasks = [...new Set(classes.map((scriptClass) => scriptClass.task))];
    return { tasks, taskOf: Int32Array.from(classes, (scriptClass) => tasks.indexOf(scriptClass.task)) };
  });

  /**
   * Every activity window at once, from one loop over the pass's users: how many users are
   * active through each user tier, and the newest tier each country has an active user in.
   */
  const activity = once((): Map<Since, ActiveUsers> => {
    const pass = source('execution_pass');
    const users = fold(pass.users, 'the user fold');
    const table = source('user_table');
    const tiers = pass.userCuts.length + 1;
    const perNewestTier = new Float64Array(tiers);
    const newestOfCountry = new Int32Array(table.countries.length).fill(tiers);
    const rows = users.indexesIn(table.ids);
    for (let user = 0; user < users.numbered; user++) {
      const newest = users.newestTier(user);
      if (newest === tiers) continue; // every execution of the user was taken out
      perNewestTier[newest]!++;
      const row = rows[user]!;
      const country = row < 0 ? -1 : table.country[row]!;
      if (country >= 0 && newest < newestOfCountry[country]!) newestOfCountry[country] = newest;
    }
    return new Map(
      plan.activity.map((since) => {
        const lastTier = lastTierOf(pass.userCuts, since);
        let active = 0;
        for (let tier = 0; tier <= lastTier; tier++) active += perNewestTier[tier]!;
        return [since, { users: active, countries: new Set(table.countries.filter((_, country) => newestOfCountry[country]! <= lastTier)) }];
      }),
    );
  });

  /** The user table's rows by day of created_at: kept by the rows in memory while they are unchanged, else computed. */
  const byDay = once(() => {
    const table = source('user_table');
    return table.byDay?.() ?? usersByDay(table);
  });

  const windowStart = (since: Since) => firstOfWindow(byDay(), since);

  /** `compute` for the users created since `since`, kept between runs by the rows in memory while its rows are the same. */
  function ofUsersSince<T>(key: string, since: Since, compute: () => T): T {
    const table = source('user_table');
    return table.keep ? table.keep(key, since, compute) : compute();
  }

  const usersByCountry = memo((since: Since): ReadonlyMap<string, number> => ofUsersSince('by country', since, () => {
    const table = source('user_table');
    const perCountry = new Float64Array(table.countries.length);
    const count = (row: number) => {
      const country = table.country[row]!;
      if (country >= 0) perCountry[country]!++;
    };
    const { rows, undated } = byDay();
    for (let at = windowStart(since); at < rows.length; at++) if (createdSince(table, rows[at]!, since)) count(rows[at]!);
    if (since === null) undated.forEach(count);
    return new Map(table.countries.flatMap((country, index) => (perCountry[index]! > 0 ? [[country, perCountry[index]!] as const] : [])));
  }));

  /** Dated users created before `since`: the rows before its first day, and those of that day (in no order of time) created before it. */
  function usersBefore(since: Since): number {
    if (since === null) return -1;
    const table = source('user_table');
    const { days, rows } = byDay();
    const day = floorDiv(since, MICROS_PER_DAY);
    const first = windowStart(since);
    let before = first;
    for (let at = first; at < rows.length && days[at] === day; at++) if (!createdSince(table, rows[at]!, since)) before++;
    return before;
  }

  const versioned = loaded.execution_pass?.version !== undefined || loaded.user_table?.version !== undefined;
  const versions: SourceVersions = {
    pass: () => loaded.execution_pass?.version ?? null,
    users: () => {
      const table = loaded.user_table;
      return table?.version === undefined ? null : [table, table.version];
    },
    usersBefore,
    emails: once(() => JSON.stringify([...source('top_user_emails')].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))),
  };

  return {
    failures,
    ...(versioned ? { versions } : {}),
    scriptCount: () => source('scripts').ids.length,
    scriptSlugs: () => source('scripts').slugs,
    executionStatuses: () => source('execution_pass').statuses,

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
      const { classes, statuses, counts, statusCapacity } = timeline;
      const { tasks, taskOf } = timelineTasks();
      const matching = classes.flatMap((scriptClass, index) => (scriptClass.matches[filter] ? [index] : []));
      const wanted = statuses.flatMap((name, index) => (status === null || name === status ? [index] : []));
      // Counts per rolled-up bucket as (status, task) cells: summed in arrays, one object per cell at the end.
      const sums = new Map<number | null, Float64Array>();
      timeline.slotTier.forEach((tier, slot) => {
        if (tier > lastTier) return;
        const start = timeline.slotStart[slot]!;
        const bucket = start === null ? null : rollUp(start);
        let cells = sums.get(bucket);
        if (!cells) {
          cells = new Float64Array(statuses.length * tasks.length);
          sums.set(bucket, cells);
        }
        for (const statusIndex of wanted) {
          const at = (slot * statusCapacity + statusIndex) * classes.length;
          for (const scriptClass of matching) cells[statusIndex * tasks.length + taskOf[scriptClass]!]! += counts[at + scriptClass]!;
        }
      });
      const cells: SeriesCell[] = [];
      for (const [bucket, counted] of sums) {
        counted.forEach((count, cell) => {
          if (count > 0) cells.push({ bucket, status: statuses[Math.floor(cell / tasks.length)]!, task: tasks[cell % tasks.length]!, count });
        });
      }
      return cells;
    },

    topUsers(since, taskType, limit) {
      const pass = source('execution_pass');
      const users = fold(pass.users, 'the user fold');
      const emails = source('top_user_emails');
      const { ids, slugs } = pass.scripts.rows;
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
      const active = activity().get(since);
      if (!active) throw new Error(`the activity window since ${since} µs was not planned`);
      return active;
    },

    executingUsers: () => fold(source('execution_pass').users, 'the user fold').distinctUsers,

    userCount(since) {
      const table = source('user_table');
      if (since === null) return table.count;
      const { rows } = byDay();
      let count = 0;
      for (let at = windowStart(since); at < rows.length; at++) if (createdSince(table, rows[at]!, since)) count++;
      return count;
    },

    usersByCountry,

    registrations(since, groupBy, country) {
      return ofUsersSince(`registrations ${JSON.stringify([groupBy, country])}`, since, () => registrationsOf(since, groupBy, country));
    },
  };

  /** Users created since the window (of one country, when given) per bucket of created_at, ascending; undated last. */
  function registrationsOf(since: Since, groupBy: Granularity, country: string | null): readonly Registrations[] {
    const table = source('user_table');
    const wanted = country === null ? -1 : table.countries.indexOf(country);
    if (country !== null && wanted < 0) return [];
    const bucketOf = bucketFunction(groupBy);
    const { days, rows, undated } = byDay();
    const ofCountry = (row: number) => wanted < 0 || table.country[row] === wanted;
    // Days ascend, so buckets of whole days do too and are counted as runs; finer ones by key.
    const wholeDays = groupBy !== 'hour' && groupBy !== 'quarter_hour';
    const buckets: Array<{ bucket: number | null; users: number }> = [];
    const finer = new Map<number, number>();
    let day = Number.NaN;
    for (let at = windowStart(since); at < rows.length; at++) {
      const row = rows[at]!;
      if (!ofCountry(row) || !createdSince(table, row, since)) continue;
      if (!wholeDays) {
        const key = bucketOf(minuteOf(table.createdAt[row]!));
        finer.set(key, (finer.get(key) ?? 0) + 1);
        continue;
      }
      if (days[at] !== day) {
        day = days[at]!;
        const start = bucketOf(day * MINUTES_PER_DAY);
        if (buckets.at(-1)?.bucket !== start) buckets.push({ bucket: start, users: 0 });
      }
      buckets[buckets.length - 1]!.users++;
    }
    for (const [bucket, users] of [...finer].sort((a, b) => a[0] - b[0])) buckets.push({ bucket, users });
    // NULL created_at passes only a period without cutoff, and comes last.
    const undatedUsers = since === null ? undated.filter(ofCountry).length : 0;
    if (undatedUsers > 0) buckets.push({ bucket: null, users: undatedUsers });
    return buckets;
  }
}
