/**
 * What a run loads: the sources to read and, for the pass over `execution`, which windows
 * and groupings its folds keep. The sections declare their needs (src/stats/sections.ts);
 * this module merges them and cuts time into the tiers the folds count in. Instants are
 * microseconds since 2000-01-01 UTC, the unit PostgreSQL's binary protocol uses.
 */
import { compareText } from '../lib/compare.js';
import type { BucketKind } from '../lib/micros.js';
import type { Granularity } from '../requests/batches.js';

/** The statements a run may send, each at most once. */
export const SOURCE_NAMES = ['scripts', 'user_table', 'execution_pass', 'top_user_emails'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

/** What a source is computed from: it fails when one of these does. */
export const SOURCE_INPUTS: Readonly<Record<SourceName, readonly SourceName[]>> = {
  scripts: [],
  user_table: [],
  // The folds class each execution by its script's task name and filters.
  execution_pass: ['scripts'],
  // Who ranks in a top list is known only after the pass.
  top_user_emails: ['execution_pass'],
};

/** The sources `sources` are computed from, themselves included. */
export function withInputs(sources: Iterable<SourceName>): Set<SourceName> {
  const closed = new Set<SourceName>();
  const visit = (source: SourceName) => {
    if (closed.has(source)) return;
    closed.add(source);
    SOURCE_INPUTS[source].forEach(visit);
  };
  for (const source of sources) visit(source);
  return closed;
}

/**
 * The start of a look-back window in µs: rows at or after it count. `null` is no window
 * at all (the `all` period): every row, those without a timestamp included.
 */
export type Since = number | null;

export interface SeriesNeed {
  readonly since: Since;
  readonly groupBy: Granularity;
}

/** Top users are counted per window and per `task_type` filter (null: none); `limit` are ranked. */
export interface TopUsersNeed {
  readonly since: Since;
  readonly taskType: string | null;
  readonly limit: number;
}

/** The columns of `"user"` a run reads. */
export interface UserColumns {
  readonly id: boolean;
  readonly country: boolean;
  readonly createdAt: boolean;
}

export interface LoadPlan {
  readonly sources: ReadonlySet<SourceName>;
  /** The latest instant a section is computed at (µs): the hour fold's dense range ends there. */
  readonly now: number;
  /** Executions per script started since each window (summary, tasks, task performance). */
  readonly scriptWindows: readonly Since[];
  /** Whether those counts need each execution's script (tasks, performance; the summary does not). */
  readonly byScript: boolean;
  /** Whether they need the exact average duration (task performance). */
  readonly durations: boolean;
  /** Executions per start hour since each window (trends); the earliest bounds the fold. */
  readonly hourWindows: readonly number[];
  readonly series: readonly SeriesNeed[];
  readonly topUsers: readonly TopUsersNeed[];
  /** Users with an execution started since each window. */
  readonly activity: readonly Since[];
  /** The distinct `task_type` filters, in first-seen order (filter i + 1 of the pass; 0 is none). */
  readonly taskTypes: readonly string[];
  readonly userColumns: UserColumns;
}

/** A section's contribution to the plan (see LoadPlan); every field is optional. */
export interface LoadNeeds {
  readonly sources?: readonly SourceName[];
  readonly now?: number;
  readonly scriptWindows?: readonly Since[];
  readonly byScript?: boolean;
  readonly durations?: boolean;
  readonly hourWindows?: readonly number[];
  readonly series?: readonly SeriesNeed[];
  readonly topUsers?: readonly TopUsersNeed[];
  readonly activity?: readonly Since[];
  readonly taskTypes?: readonly string[];
  readonly userColumns?: Partial<UserColumns>;
}

type ListNeeds = { [K in keyof LoadNeeds as NonNullable<LoadNeeds[K]> extends readonly unknown[] ? K : never]-?: NonNullable<LoadNeeds[K]> };

/** Newest first, `null` (no window) last. */
function bySinceDescending(a: Since, b: Since): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return b - a;
}

function distinct<T>(items: Iterable<T>, key: (item: T) => unknown = (item) => item): T[] {
  return [...new Map([...items].map((item) => [key(item), item] as const)).values()];
}

/** Merges the sections' needs into one frozen plan; the result does not depend on their order. */
export function mergeNeeds(needs: readonly LoadNeeds[]): LoadPlan {
  const all = <K extends keyof ListNeeds>(name: K): Array<ListNeeds[K][number]> => needs.flatMap((need) => [...(need[name] ?? [])]);
  const any = (name: 'byScript' | 'durations') => needs.some((need) => need[name] === true);
  const column = (name: keyof UserColumns) => needs.some((need) => need.userColumns?.[name] === true);
  const windows = (name: 'scriptWindows' | 'activity') => distinct<Since>(all(name)).sort(bySinceDescending);
  const series = (need: SeriesNeed) => `${need.since}/${need.groupBy}`;
  return Object.freeze({
    sources: withInputs(all('sources')),
    now: Math.max(Number.NEGATIVE_INFINITY, ...needs.map((need) => need.now ?? Number.NEGATIVE_INFINITY)),
    scriptWindows: windows('scriptWindows'),
    byScript: any('byScript'),
    durations: any('durations'),
    hourWindows: distinct(all('hourWindows')).sort((a, b) => b - a),
    series: distinct(all('series'), series).sort(
      (a, b) => bySinceDescending(a.since, b.since) || compareText(series(a), series(b)),
    ),
    topUsers: distinct(all('topUsers'), (need) => JSON.stringify([need.since, need.taskType, need.limit])).sort(
      (a, b) => bySinceDescending(a.since, b.since) || compareText(String(a.taskType), String(b.taskType)),
    ),
    activity: windows('activity'),
    taskTypes: distinct(all('taskTypes')),
    userColumns: { id: column('id'), country: column('country'), createdAt: column('createdAt') },
  });
}

const CHAIN: readonly Granularity[] = ['quarter_hour', 'hour', 'day'];

/**
 * How a tier of a time series is bucketed: a granularity, or `week_month`, the pieces weeks
 * and months cut each other into (a week, or its part in one month). A week_month bucket lies
 * in one week and in one month, so both roll up from it exactly.
 */
export type TierBucket = BucketKind;

/**
 * The coarsest bucket that every granularity in `wanted` can be rolled up from.
 * Quarter-hours nest in hours, hours in days, days in weeks and in months; weeks and
 * months do not nest in each other, so wanting both takes their common pieces.
 */
export function commonRefinement(wanted: Iterable<Granularity>): TierBucket {
  const set = new Set(wanted);
  const finest = CHAIN.find((granularity) => set.has(granularity));
  if (finest) return finest;
  if (set.has('week') && set.has('month')) return 'week_month';
  if (set.has('week')) return 'week';
  return 'month';
}

export interface SeriesTier {
  /** Events at or after this instant (µs) belong to the tier (null: everything older). */
  readonly from: Since;
  readonly bucket: TierBucket;
}

/**
 * Splits time into tiers at the series' windows, newest first; each tier is bucketed as
 * finely as the series that include it need. One fold then serves every (window,
 * granularity) pair exactly: a window is a set of whole tiers, and each tier's buckets roll
 * up into the series' own.
 */
export function seriesTiers(needs: readonly SeriesNeed[]): SeriesTier[] {
  const starts = distinct(needs.map((need) => need.since)).sort(bySinceDescending);
  return starts.map((from) => {
    // The tier between this start and the previous one is included by every series reaching back this far.
    const including = needs.filter((need) => bySinceDescending(need.since, from) >= 0);
    return { from, bucket: commonRefinement(including.map((need) => need.groupBy)) };
  });
}

/**
 * The instants (µs, newest first) at which the start-time folds cut time: every window of
 * the per-script counts, the trends, the top users and the activity. Tier i holds starts at
 * or after cut i and before cut i - 1; the last tier (index = cuts.length) holds older and
 * NULL starts.
 */
export function startCuts(plan: LoadPlan): number[] {
  return newestFirst([...plan.scriptWindows, ...plan.hourWindows, ...userCuts(plan)]);
}

/** The windows the user fold counts in (top users and activity): some of the start cuts. */
export function userCuts(plan: LoadPlan): number[] {
  return newestFirst([...plan.topUsers.map((need) => need.since), ...plan.activity]);
}

function newestFirst(windows: readonly Since[]): number[] {
  return distinct(windows.filter((cut): cut is number => cut !== null)).sort((a, b) => b - a);
}

/** The last tier a window includes, of tiers cut at `cuts` (see startCuts); throws for a window that was not planned. */
export function lastTierOf(cuts: readonly number[], since: Since): number {
  if (since === null) return cuts.length;
  const tier = cuts.indexOf(since);
  if (tier < 0) throw new Error(`the window since ${since} µs was not planned`);
  return tier;
}
