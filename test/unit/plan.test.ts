import { describe, expect, it } from 'vitest';
import { BATCHES, configsFor, type Granularity } from '../../src/requests/batches.js';
import { commonRefinement, planRun, type SeriesNeed, seriesTiers, type TierBucket } from '../../src/plan.js';
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
const ALL_PERIODS = ['last_day', 'last_week', 'last_month', 'last_year', 'all'];

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

describe('planRun', () => {
  it('computes the cutoffs and windows from now, in microseconds since 2000', () => {
    const plan = planRun([], NOW);
    expect(plan.now).toBe(NOW);
    expect(plan.cutoffs).toEqual(CUTOFFS);
    expect(plan.hourlyWindowStart).toBe(micros('2026-06-12T12:34:56Z'));
    expect(plan.monthlyWindowStart).toBe(micros('2025-06-15T12:34:56Z'));
  });

  it('needs nothing for no configs', () => {
    const plan = planRun([], NOW);
    for (const name of ['summary', 'trends', 'geographic', 'tasks', 'timeSeries', 'topUsers', 'performance', 'registration', 'activity'] as const) {
      expect(plan[name], name).toEqual([]);
    }
  });

  it('is frozen', () => {
    expect(Object.isFrozen(planRun(configsFor(['dashboard']), NOW))).toBe(true);
  });

  it('plans the dashboard batch: every section for all five periods, nothing else', () => {
    const plan = planRun(configsFor(['dashboard']), NOW);
    expect(plan.summary).toEqual(ALL_PERIODS);
    expect(plan.trends).toEqual(ALL_PERIODS);
    expect(plan.geographic).toEqual(ALL_PERIODS);
    expect(plan.tasks).toEqual(ALL_PERIODS);
    expect(plan.timeSeries).toEqual([]);
    expect(plan.topUsers).toEqual([]);
    expect(plan.performance).toEqual([]);
    expect(plan.registration).toEqual([]);
    expect(plan.activity).toEqual([]);
  });

  it('plans only the sections a single dashboard config includes', () => {
    const plan = planRun([{ family: 'dashboard', period: 'last_year', include: ['trends', 'geographic'] }], NOW);
    expect(plan.summary).toEqual([]);
    expect(plan.trends).toEqual(['last_year']);
    expect(plan.geographic).toEqual(['last_year']);
    expect(plan.tasks).toEqual([]);
  });

  it('plans the executions batch: 7 distinct series (the FAILED config shares last_month/day)', () => {
    const plan = planRun(configsFor(['executions']), NOW);
    expect(plan.timeSeries).toEqual([
      { period: 'last_day', groupBy: 'quarter_hour' },
      { period: 'last_week', groupBy: 'day' },
      { period: 'last_week', groupBy: 'hour' },
      { period: 'last_month', groupBy: 'day' },
      { period: 'last_year', groupBy: 'month' },
      { period: 'last_year', groupBy: 'week' },
      { period: 'all', groupBy: 'month' },
    ]);
    expect(plan.topUsers).toEqual(ALL_PERIODS.map((period) => ({ period, taskType: null })));
    expect(plan.performance).toEqual(ALL_PERIODS);
    expect(plan.taskTypes).toEqual([]);
    expect(plan.summary).toEqual([]);
    expect(plan.geographic).toEqual([]);
    expect(plan.registration).toEqual([]);
    expect(plan.activity).toEqual([]);
  });

  it('plans the users batch: registration series, geographic and activity', () => {
    const plan = planRun(configsFor(['users']), NOW);
    expect(plan.registration).toEqual([
      { period: 'last_day', groupBy: 'quarter_hour' },
      { period: 'last_week', groupBy: 'hour' },
      { period: 'last_month', groupBy: 'day' },
      { period: 'last_year', groupBy: 'month' },
      { period: 'last_year', groupBy: 'week' },
      { period: 'all', groupBy: 'month' },
    ]);
    expect(plan.geographic).toEqual(ALL_PERIODS);
    expect(plan.activity).toEqual(ALL_PERIODS);
    expect(plan.timeSeries).toEqual([]);
    expect(plan.summary).toEqual([]);
  });

  it('merges families without duplicates', () => {
    const plan = planRun(configsFor(['dashboard', 'executions', 'users']), NOW);
    expect(plan.geographic).toEqual(ALL_PERIODS);
    expect(plan.timeSeries).toHaveLength(7);
    expect(plan.registration).toHaveLength(6);
  });

  it('does not depend on config order', () => {
    const forward = planRun(configsFor(['executions', 'users', 'dashboard']), NOW);
    const backward = planRun([...configsFor(['executions', 'users', 'dashboard'])].reverse(), NOW);
    for (const name of ['summary', 'trends', 'geographic', 'tasks', 'topUsers', 'performance', 'activity'] as const) {
      expect(backward[name], name).toEqual(forward[name]);
    }
    const key = (n: SeriesNeed) => `${n.period}/${n.groupBy}`;
    expect(backward.timeSeries.map(key).sort()).toEqual(forward.timeSeries.map(key).sort());
    expect(backward.registration.map(key).sort()).toEqual(forward.registration.map(key).sort());
  });
});

describe('seriesTiers', () => {
  it('splits the executions series into 5 tiers, newest first', () => {
    const plan = planRun(configsFor(['executions']), NOW);
    expect(seriesTiers(plan.timeSeries, plan.cutoffs)).toEqual([
      { from: CUTOFFS.last_day, bucket: 'quarter_hour' },
      { from: CUTOFFS.last_week, bucket: 'hour' },
      { from: CUTOFFS.last_month, bucket: 'day' },
      // Only last_year's weekly and monthly series and all's monthly one reach back here.
      { from: CUTOFFS.last_year, bucket: 'week_month' },
      { from: null, bucket: 'month' },
    ]);
  });

  it('splits the users registration series into 5 tiers', () => {
    const plan = planRun(configsFor(['users']), NOW);
    expect(seriesTiers(plan.registration, plan.cutoffs)).toEqual([
      { from: CUTOFFS.last_day, bucket: 'quarter_hour' },
      { from: CUTOFFS.last_week, bucket: 'hour' },
      { from: CUTOFFS.last_month, bucket: 'day' },
      { from: CUTOFFS.last_year, bucket: 'week_month' },
      { from: null, bucket: 'month' },
    ]);
  });

  it('has one tier per requested period only', () => {
    expect(seriesTiers([{ period: 'last_week', groupBy: 'day' }], CUTOFFS)).toEqual([
      { from: CUTOFFS.last_week, bucket: 'day' },
    ]);
    expect(seriesTiers([{ period: 'all', groupBy: 'month' }], CUTOFFS)).toEqual([{ from: null, bucket: 'month' }]);
    expect(
      seriesTiers(
        [
          { period: 'last_year', groupBy: 'week' },
          { period: 'last_day', groupBy: 'hour' },
        ],
        CUTOFFS,
      ),
    ).toEqual([
      { from: CUTOFFS.last_day, bucket: 'hour' },
      { from: CUTOFFS.last_year, bucket: 'week' },
    ]);
    expect(seriesTiers([], CUTOFFS)).toEqual([]);
  });

  it('buckets each tier so every series that covers it can be rolled up exactly', () => {
    const pool: SeriesNeed[] = [...BATCHES.executions, ...BATCHES.users].flatMap((c) =>
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
      const tiers = seriesTiers(needs, CUTOFFS);
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
