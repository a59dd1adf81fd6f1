/**
 * Planning a run's load: the sections' declared needs merged into one plan, and time cut
 * into the tiers the folds count in.
 */
import { describe, expect, it } from 'vitest';
import { BATCHES, requestsFor, type Granularity } from '../../src/requests/batches.js';
import { commonRefinement, type SeriesNeed, seriesTiers, startCuts, type TierBucket, userCuts } from '../../src/pass/plan.js';
import { planLoad } from '../../src/stats/sections.js';
import { PERIODS, type Period } from '../../src/lib/time.js';

const NOW = new Date('2026-06-15T12:34:56Z');
/** Microseconds since 2000-01-01 of an ISO instant, computed independently of src/lib/micros.ts. */
const micros = (iso: string) => (Date.parse(iso) - Date.parse('2000-01-01T00:00:00Z')) * 1000;
const CUTOFFS = {
  last_day: micros('2026-06-14T12:34:56Z'),
  last_week: micros('2026-06-08T12:34:56Z'),
  last_month: micros('2026-05-16T12:34:56Z'),
  last_year: micros('2025-06-15T12:34:56Z'),
  all: null,
} as const;
const ALL_WINDOWS = [CUTOFFS.last_day, CUTOFFS.last_week, CUTOFFS.last_month, CUTOFFS.last_year, null];
const HOURLY = micros('2026-06-12T12:34:56Z');
const series = (period: Period, groupBy: Granularity): SeriesNeed => ({ since: CUTOFFS[period], groupBy });

/**
 * Independent nesting relation: can a series bucketed by `fine` be rolled up into `coarse` buckets?
 * week_month pieces (a week, or its part in one month) nest in weeks and in months, and days in them.
 */
function rollsUpInto(fine: TierBucket, coarse: TierBucket): boolean {
  const rank: Record<TierBucket, number> = { quarter_hour: 0, hour: 1, day: 2, week_month: 3, week: 4, month: 4 };
  if (fine === coarse) return true;
  if ((fine === 'week' && coarse === 'month') || (fine === 'month' && coarse === 'week')) return false;
  return rank[fine] < rank[coarse];
}

describe('commonRefinement', () => {
  const cases: Array<[Granularity[], TierBucket]> = [
    [['quarter_hour', 'day'], 'quarter_hour'],
    [['week'], 'week'],
    [['month'], 'month'],
    [['week', 'month'], 'week_month'],
    [['hour', 'month'], 'hour'],
    [['day'], 'day'],
    [['hour'], 'hour'],
    [['quarter_hour'], 'quarter_hour'],
    [['day', 'week'], 'day'],
    [['day', 'month'], 'day'],
    [['hour', 'week'], 'hour'],
    [['month', 'week', 'month'], 'week_month'],
    [['month', 'week', 'hour', 'quarter_hour', 'day'], 'quarter_hour'],
  ];
  it.each(cases)('%j → %s', (wanted, expected) => {
    expect(commonRefinement(wanted)).toBe(expected);
  });

  it('accepts any iterable', () => {
    expect(commonRefinement(new Set<Granularity>(['week', 'month']))).toBe('week_month');
    function* gen(): Generator<Granularity> {
      yield 'month';
      yield 'hour';
    }
    expect(commonRefinement(gen())).toBe('hour');
  });

  it('returns a bucket every wanted granularity rolls up from, and the coarsest such', () => {
    const all: Granularity[] = ['quarter_hour', 'hour', 'day', 'week', 'month'];
    const buckets: TierBucket[] = [...all, 'week_month'];
    for (let mask = 1; mask < 1 << all.length; mask++) {
      const wanted = all.filter((_, i) => mask & (1 << i));
      const result = commonRefinement(wanted);
      expect(wanted.every((g) => rollsUpInto(result, g)), `${wanted} → ${result}`).toBe(true);
      const candidates = buckets.filter((c) => wanted.every((g) => rollsUpInto(c, g)));
      // No candidate is strictly coarser than the result.
      expect(candidates.every((c) => rollsUpInto(c, result)), `${wanted} → ${result}`).toBe(true);
    }
  });
});

describe('planLoad', () => {
  it('needs nothing for no configs', () => {
    const plan = planLoad([], NOW);
    expect(plan.sources.size).toBe(0);
    for (const name of ['scriptWindows', 'hourWindows', 'series', 'topUsers', 'activity', 'taskTypes'] as const) {
      expect(plan[name], name).toEqual([]);
    }
    expect(plan.userColumns).toEqual({ id: false, country: false, createdAt: false });
  });

  it('is frozen', () => {
    expect(Object.isFrozen(planLoad(requestsFor(['dashboard']), NOW))).toBe(true);
  });

  it('plans the dashboard batch: counts for all five windows, the trends\' windows, users by creation and country', () => {
    const plan = planLoad(requestsFor(['dashboard']), NOW);
    expect([...plan.sources].sort()).toEqual(['execution_pass', 'scripts', 'user_table']);
    expect(plan.scriptWindows).toEqual(ALL_WINDOWS);
    expect(plan).toMatchObject({ byScript: true, durations: false, now: micros('2026-06-15T12:34:56Z') });
    // Daily windows are the cutoffs; hourly is now − 72 h; monthly (now − 365 d) is last_year's cutoff.
    expect(plan.hourWindows).toEqual([CUTOFFS.last_day, HOURLY, CUTOFFS.last_week, CUTOFFS.last_month, CUTOFFS.last_year]);
    expect(plan.series).toEqual([]);
    expect(plan.topUsers).toEqual([]);
    expect(plan.activity).toEqual([]);
    expect(plan.userColumns).toEqual({ id: false, country: true, createdAt: true });
  });

  it('plans only what a single dashboard config includes', () => {
    const plan = planLoad([{ family: 'dashboard', period: 'last_year', include: ['trends', 'geographic'] }], NOW);
    expect(plan.scriptWindows).toEqual([]);
    expect(plan.hourWindows).toEqual([CUTOFFS.last_year]);
    expect([...plan.sources].sort()).toEqual(['execution_pass', 'scripts', 'user_table']);
    const summaryOnly = planLoad([{ family: 'dashboard', period: 'last_week', include: ['summary'] }], NOW);
    expect(summaryOnly).toMatchObject({ scriptWindows: [CUTOFFS.last_week], byScript: false, hourWindows: [] });
    const geographicOnly = planLoad([{ family: 'dashboard', period: 'all', include: ['geographic'] }], NOW);
    expect([...geographicOnly.sources]).toEqual(['user_table']);
  });

  it('plans the executions batch: 7 distinct series (the FAILED config shares last_month/day), newest first', () => {
    const plan = planLoad(requestsFor(['executions']), NOW);
    expect(plan.series).toEqual([
      series('last_day', 'quarter_hour'),
      series('last_week', 'day'),
      series('last_week', 'hour'),
      series('last_month', 'day'),
      series('last_year', 'month'),
      series('last_year', 'week'),
      series('all', 'month'),
    ]);
    expect(plan.topUsers).toEqual(ALL_WINDOWS.map((since) => ({ since, taskType: null, limit: 10 })));
    expect(plan).toMatchObject({ scriptWindows: ALL_WINDOWS, byScript: true, durations: true, taskTypes: [], hourWindows: [], activity: [] });
    expect([...plan.sources].sort()).toEqual(['execution_pass', 'scripts', 'top_user_emails']);
    expect(plan.userColumns).toEqual({ id: false, country: false, createdAt: false });
  });

  it('plans the users batch: the user table\'s three columns and activity, no series', () => {
    const plan = planLoad(requestsFor(['users']), NOW);
    expect(plan.activity).toEqual(ALL_WINDOWS);
    expect(plan.userColumns).toEqual({ id: true, country: true, createdAt: true });
    expect(plan.series).toEqual([]);
    expect(plan.scriptWindows).toEqual([]);
    expect([...plan.sources].sort()).toEqual(['execution_pass', 'scripts', 'user_table']);
  });

  it('collects task_type filters once each, in first-seen order', () => {
    const plan = planLoad(
      [
        { family: 'executions', period: 'last_week', groupBy: 'day', status: null, taskType: 'sdg' },
        { family: 'executions', period: 'all', groupBy: 'month', status: 'FAILED', taskType: 'land' },
        { family: 'executions', period: 'last_day', groupBy: 'hour', status: null, taskType: 'sdg' },
      ],
      NOW,
    );
    expect(plan.taskTypes).toEqual(['sdg', 'land']);
  });

  it('merges families without duplicates, whatever the configs\' order', () => {
    const configs = requestsFor(['executions', 'users', 'dashboard']);
    const forward = planLoad(configs, NOW);
    expect(forward.scriptWindows).toEqual(ALL_WINDOWS);
    expect(forward.series).toHaveLength(7);
    expect(planLoad([...configs].reverse(), NOW)).toEqual(forward);
  });
});

describe('startCuts and userCuts', () => {
  const DATED = [CUTOFFS.last_day, CUTOFFS.last_week, CUTOFFS.last_month, CUTOFFS.last_year];

  it('cut the start tiers at every window of the counts, the trends, the top users and the activity, newest first', () => {
    expect(startCuts(planLoad(requestsFor(['dashboard', 'executions', 'users']), NOW))).toEqual([CUTOFFS.last_day, HOURLY, ...DATED.slice(1)]);
    // The users family alone: only activity windows.
    expect(startCuts(planLoad(requestsFor(['users']), NOW))).toEqual(DATED);
  });

  it('cut the user tiers at the top users\' and activity windows only, each of them a start cut', () => {
    const plan = planLoad(requestsFor(['dashboard', 'executions', 'users']), NOW);
    expect(userCuts(plan)).toEqual(DATED);
    expect(userCuts(plan).every((cut) => startCuts(plan).includes(cut))).toBe(true);
    expect(userCuts(planLoad(requestsFor(['dashboard']), NOW))).toEqual([]);
  });
});

describe('seriesTiers', () => {
  it('splits the executions series into 5 tiers, newest first', () => {
    const plan = planLoad(requestsFor(['executions']), NOW);
    expect(seriesTiers(plan.series)).toEqual([
      { from: CUTOFFS.last_day, bucket: 'quarter_hour' },
      { from: CUTOFFS.last_week, bucket: 'hour' },
      { from: CUTOFFS.last_month, bucket: 'day' },
      // Only last_year's weekly and monthly series and all's monthly one reach back here.
      { from: CUTOFFS.last_year, bucket: 'week_month' },
      { from: null, bucket: 'month' },
    ]);
  });

  it('has one tier per requested period only', () => {
    expect(seriesTiers([series('last_week', 'day')])).toEqual([{ from: CUTOFFS.last_week, bucket: 'day' }]);
    expect(seriesTiers([series('all', 'month')])).toEqual([{ from: null, bucket: 'month' }]);
    expect(seriesTiers([series('last_year', 'week'), series('last_day', 'hour')])).toEqual([
      { from: CUTOFFS.last_day, bucket: 'hour' },
      { from: CUTOFFS.last_year, bucket: 'week' },
    ]);
    expect(seriesTiers([])).toEqual([]);
  });

  it('buckets each tier so every series that covers it can be rolled up exactly', () => {
    const pool: Array<{ period: Period; groupBy: Granularity }> = [...BATCHES.executions, ...BATCHES.users].flatMap((c) =>
      c.family === 'dashboard' ? [] : [{ period: c.period, groupBy: c.groupBy }],
    );
    // Deterministic pseudo-random subsets of the batches' series.
    let seed = 0x2545f491;
    const nextBit = () => {
      // xorshift32
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 7) & 1;
    };
    const seen = new Set<string>();
    for (let round = 0; round < 300; round++) {
      const needs = pool.filter(() => nextBit() === 1);
      seen.add(needs.map((n) => `${n.period}/${n.groupBy}`).join(' '));
      const tiers = seriesTiers(needs.map((need) => series(need.period, need.groupBy)));
      const periods = PERIODS.filter((p) => needs.some((n) => n.period === p));
      expect(tiers.map((t) => t.from)).toEqual(periods.map((p: Period) => CUTOFFS[p]));
      for (const need of needs) {
        // A series for period p covers the tiers of p and of every shorter requested period.
        const covered = tiers.slice(0, periods.indexOf(need.period) + 1);
        for (const tier of covered) {
          expect(rollsUpInto(tier.bucket, need.groupBy), `${tier.bucket} → ${need.groupBy}`).toBe(true);
        }
      }
    }
    // The subsets really vary.
    expect(seen.size).toBeGreaterThan(200);
  });
});
