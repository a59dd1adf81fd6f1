/**
 * Planning a run: the requested configs are expanded into the distinct sections and
 * periods they need, so each query runs once per run and covers every period at once.
 */
import type { Granularity, RefreshConfig } from './requests/batches.js';
import { byLookBack, type Period, periodCutoff, toSqlTimestamp, HOURLY_WINDOW_MS, MONTHLY_WINDOW_MS } from './lib/time.js';

export interface SeriesNeed {
  readonly period: Period;
  readonly groupBy: Granularity;
}

/** Everything a run has to compute, by section, with the periods each is needed for. */
export interface RunPlan {
  readonly now: Date;
  /** Naive UTC cutoff per period (null for `all`). */
  readonly cutoffs: Readonly<Record<Period, string | null>>;
  /** Naive UTC starts of the trends' hourly (72 h) and monthly (365 d) windows. */
  readonly hourlyWindowStart: string;
  readonly monthlyWindowStart: string;
  readonly summary: readonly Period[];
  readonly trends: readonly Period[];
  readonly geographic: readonly Period[];
  readonly tasks: readonly Period[];
  readonly timeSeries: readonly SeriesNeed[];
  readonly topUsers: readonly Period[];
  readonly performance: readonly Period[];
  readonly registration: readonly SeriesNeed[];
  readonly activity: readonly Period[];
}

type Needs = {
  -readonly [K in keyof RunPlan as RunPlan[K] extends readonly unknown[] ? K : never]: RunPlan[K];
};

function sortedPeriods(periods: Iterable<Period>): Period[] {
  return [...new Set(periods)].sort(byLookBack);
}

function distinctSeries(needs: readonly SeriesNeed[]): SeriesNeed[] {
  const seen = new Map(needs.map((need) => [`${need.period}/${need.groupBy}`, need]));
  return [...seen.values()].sort((a, b) => byLookBack(a.period, b.period));
}

function needsOf(config: RefreshConfig): Partial<Needs> {
  const { period } = config;
  switch (config.family) {
    case 'dashboard':
      return Object.fromEntries(config.include.map((section) => [section, [period]]));
    case 'executions':
      return {
        timeSeries: [{ period, groupBy: config.groupBy }],
        topUsers: [period],
        performance: [period],
      };
    case 'users':
      return {
        registration: [{ period, groupBy: config.groupBy }],
        geographic: [period],
        activity: [period],
      };
  }
}

/** Plans the run of `configs` at the instant `now`. */
export function planRun(configs: readonly RefreshConfig[], now: Date): RunPlan {
  const merged: Needs = {
    summary: [], trends: [], geographic: [], tasks: [], timeSeries: [],
    topUsers: [], performance: [], registration: [], activity: [],
  };
  for (const config of configs) {
    for (const [name, values] of Object.entries(needsOf(config)) as [keyof Needs, never[]][]) {
      (merged[name] as unknown[]).push(...values);
    }
  }
  const cutoffs = Object.fromEntries(
    (['last_day', 'last_week', 'last_month', 'last_year', 'all'] as const).map((period) => {
      const cutoff = periodCutoff(period, now);
      return [period, cutoff ? toSqlTimestamp(cutoff) : null];
    }),
  ) as Record<Period, string | null>;
  return Object.freeze({
    now,
    cutoffs,
    hourlyWindowStart: toSqlTimestamp(new Date(now.getTime() - HOURLY_WINDOW_MS)),
    monthlyWindowStart: toSqlTimestamp(new Date(now.getTime() - MONTHLY_WINDOW_MS)),
    summary: sortedPeriods(merged.summary),
    trends: sortedPeriods(merged.trends),
    geographic: sortedPeriods(merged.geographic),
    tasks: sortedPeriods(merged.tasks),
    timeSeries: distinctSeries(merged.timeSeries),
    topUsers: sortedPeriods(merged.topUsers),
    performance: sortedPeriods(merged.performance),
    registration: distinctSeries(merged.registration),
    activity: sortedPeriods(merged.activity),
  });
}

const CHAIN: readonly Granularity[] = ['quarter_hour', 'hour', 'day'];

/**
 * How a tier of a time series is bucketed: a granularity, or `week_month`, the pieces weeks
 * and months cut each other into (a week, or its part in one month). A week_month bucket lies
 * in one week and in one month, so both roll up from it exactly, from about 64 buckets a
 * year where days take 365.
 */
export type TierBucket = Granularity | 'week_month';

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
  /** Events at or after this naive UTC instant belong to the tier (null: everything older). */
  readonly from: string | null;
  readonly bucket: TierBucket;
}

/**
 * Splits time into tiers at the cutoffs of the requested periods, newest first; each
 * tier is bucketed as finely as the series that include it need. A single scan then
 * serves every (period, granularity) pair exactly: a period is a set of whole tiers.
 */
export function seriesTiers(needs: readonly SeriesNeed[], cutoffs: Readonly<Record<Period, string | null>>): SeriesTier[] {
  const periods = sortedPeriods(needs.map((need) => need.period));
  return periods.map((period, index) => {
    // The tier between this cutoff and the previous one is included by this period and every longer one.
    const including = needs.filter((need) => byLookBack(need.period, periods[index]!) >= 0);
    return { from: cutoffs[period], bucket: commonRefinement(including.map((need) => need.groupBy)) };
  });
}
