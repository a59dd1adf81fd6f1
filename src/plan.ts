/**
 * Planning a run: the requested configs are expanded into the distinct sections, periods and
 * filters they need, so the pass over the data computes each once and serves every config.
 * Instants are microseconds since 2000-01-01 UTC, the unit PostgreSQL's binary protocol uses.
 */
import { type BucketKind, microsOf } from './lib/micros.js';
import { byLookBack, HOURLY_WINDOW_MS, MONTHLY_WINDOW_MS, type Period, PERIODS, periodCutoff } from './lib/time.js';
import type { Granularity, RefreshConfig } from './requests/batches.js';

export interface SeriesNeed {
  readonly period: Period;
  readonly groupBy: Granularity;
}

/** Top users are counted per period and per `task_type` filter (null: none). */
export interface TopUsersNeed {
  readonly period: Period;
  readonly taskType: string | null;
}

/** Everything a run has to compute, by section, with the periods each is needed for. */
export interface RunPlan {
  readonly now: Date;
  /** Cutoff per period in µs since 2000-01-01 (null for `all`). */
  readonly cutoffs: Readonly<Record<Period, number | null>>;
  /** Starts of the trends' hourly (72 h) and monthly (365 d) windows, in µs. */
  readonly hourlyWindowStart: number;
  readonly monthlyWindowStart: number;
  readonly summary: readonly Period[];
  readonly trends: readonly Period[];
  readonly geographic: readonly Period[];
  readonly tasks: readonly Period[];
  readonly timeSeries: readonly SeriesNeed[];
  readonly topUsers: readonly TopUsersNeed[];
  readonly performance: readonly Period[];
  readonly registration: readonly SeriesNeed[];
  readonly activity: readonly Period[];
  /** The distinct `task_type` filters, in first-seen order (filter i + 1 of the pass; 0 is none). */
  readonly taskTypes: readonly string[];
}

type Needs = {
  -readonly [K in keyof RunPlan as RunPlan[K] extends readonly unknown[] ? K : never]: RunPlan[K];
};

function sortedPeriods(periods: Iterable<Period>): Period[] {
  return [...new Set(periods)].sort(byLookBack);
}

function distinctBy<T>(items: readonly T[], key: (item: T) => string, order: (a: T, b: T) => number): T[] {
  return [...new Map(items.map((item) => [key(item), item])).values()].sort(order);
}

function needsOf(config: RefreshConfig): Partial<Needs> {
  const { period } = config;
  switch (config.family) {
    case 'dashboard':
      return Object.fromEntries(config.include.map((section) => [section, [period]]));
    case 'executions':
      return {
        timeSeries: [{ period, groupBy: config.groupBy }],
        topUsers: [{ period, taskType: config.taskType }],
        performance: [period],
        taskTypes: config.taskType === null ? [] : [config.taskType],
      };
    case 'users':
      return {
        registration: [{ period, groupBy: config.groupBy }],
        geographic: [period],
        activity: [period],
      };
  }
}

const byPeriodOf = (a: { period: Period }, b: { period: Period }) => byLookBack(a.period, b.period);

/** Plans the run of `configs` at the instant `now`. */
export function planRun(configs: readonly RefreshConfig[], now: Date): RunPlan {
  const merged: Needs = {
    summary: [], trends: [], geographic: [], tasks: [], timeSeries: [],
    topUsers: [], performance: [], registration: [], activity: [], taskTypes: [],
  };
  for (const config of configs) {
    for (const [name, values] of Object.entries(needsOf(config)) as [keyof Needs, never[]][]) {
      (merged[name] as unknown[]).push(...values);
    }
  }
  const cutoffs = Object.fromEntries(
    PERIODS.map((period) => {
      const cutoff = periodCutoff(period, now);
      return [period, cutoff ? microsOf(cutoff) : null];
    }),
  ) as Record<Period, number | null>;
  const series = (need: SeriesNeed) => `${need.period}/${need.groupBy}`;
  return Object.freeze({
    now,
    cutoffs,
    hourlyWindowStart: microsOf(new Date(now.getTime() - HOURLY_WINDOW_MS)),
    monthlyWindowStart: microsOf(new Date(now.getTime() - MONTHLY_WINDOW_MS)),
    summary: sortedPeriods(merged.summary),
    trends: sortedPeriods(merged.trends),
    geographic: sortedPeriods(merged.geographic),
    tasks: sortedPeriods(merged.tasks),
    timeSeries: distinctBy(merged.timeSeries, series, byPeriodOf),
    topUsers: distinctBy(merged.topUsers, (need) => JSON.stringify([need.period, need.taskType]), byPeriodOf),
    performance: sortedPeriods(merged.performance),
    registration: distinctBy(merged.registration, series, byPeriodOf),
    activity: sortedPeriods(merged.activity),
    taskTypes: [...new Set(merged.taskTypes)],
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
  readonly from: number | null;
  readonly bucket: TierBucket;
}

/**
 * Splits time into tiers at the cutoffs of the requested periods, newest first; each
 * tier is bucketed as finely as the series that include it need. One fold then serves
 * every (period, granularity) pair exactly: a period is a set of whole tiers, and each
 * tier's buckets roll up into the series' own.
 */
export function seriesTiers(needs: readonly SeriesNeed[], cutoffs: Readonly<Record<Period, number | null>>): SeriesTier[] {
  const periods = sortedPeriods(needs.map((need) => need.period));
  return periods.map((period, index) => {
    // The tier between this cutoff and the previous one is included by this period and every longer one.
    const including = needs.filter((need) => byLookBack(need.period, periods[index]!) >= 0);
    return { from: cutoffs[period], bucket: commonRefinement(including.map((need) => need.groupBy)) };
  });
}

/**
 * The instants (µs, newest first) at which the start-time folds cut time: every period cutoff
 * a start-dated section needs and the trends' windows. Tier i holds starts at or after cut i
 * and before cut i - 1; the last tier (index = cuts.length) holds older and NULL starts.
 */
export function startCuts(plan: RunPlan): number[] {
  const periods = [...plan.summary, ...plan.tasks, ...plan.performance, ...plan.activity, ...plan.topUsers.map((n) => n.period)];
  const cuts = periods.map((period) => plan.cutoffs[period]);
  if (plan.trends.length > 0) {
    cuts.push(plan.monthlyWindowStart, ...plan.trends.map((period) => plan.cutoffs[period]));
    if (plan.trends.some((period) => period === 'last_day' || period === 'all')) cuts.push(plan.hourlyWindowStart);
  }
  return [...new Set(cuts.filter((cut): cut is number => cut !== null))].sort((a, b) => b - a);
}

/** The last start tier a period includes (see startCuts). */
export function lastTierOf(cuts: readonly number[], cutoff: number | null): number {
  if (cutoff === null) return cuts.length;
  const tier = cuts.indexOf(cutoff);
  if (tier < 0) throw new Error(`cutoff ${cutoff} was not planned`);
  return tier;
}
