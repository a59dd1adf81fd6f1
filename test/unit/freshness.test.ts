/**
 * The pure parts of the freshness harness (bench/freshness.ts): percentiles, matching commits
 * to what Redis showed, CPU per minute, which fields show which change, and the table.
 */
import { describe, expect, it } from 'vitest';
import {
  type Commit,
  type FieldHistory,
  commitLags,
  cpuMeanPerMinute,
  cpuPerMinute,
  firstShown,
  percentile,
  record,
  spread,
  summarizeLags,
} from '../../bench/freshness/lag.js';
import { formatTable, type ScenarioResult, tableRows } from '../../bench/freshness/report.js';
import { plannedChanges, SCENARIOS } from '../../bench/freshness/scenarios.js';
import { cutoffLabel, fullLabel, PROBE_COUNTRY, PROBE_SLUG, quietPeriods, watchesOf } from '../../bench/freshness/watch.js';

const history = (key: string, field: string, base: number, changes: Array<[number, number]>, kind: FieldHistory['kind'] = 'new_run'): FieldHistory => ({
  key,
  kind,
  field,
  base,
  changes: changes.map(([at, value]) => ({ at, value })),
});

describe('percentile and spread', () => {
  it('takes the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, index) => 100 - index); // 100 .. 1, unsorted
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3], 50)).toBe(2);
    expect(percentile([], 50)).toBeNaN();
  });

  it('gives the median between the middle two of an even count, with min and max', () => {
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 });
    expect(spread([5, 1, 9])).toEqual({ median: 5, min: 1, max: 9 });
    expect(spread([]).median).toBeNaN();
  });
});

describe('field histories', () => {
  it('keeps only changes, ignores a missing key, and finds the first instant a count is reached', () => {
    const field = history('k', 'f', 10, []);
    record(field, 100, 10); // the baseline again: no change
    record(field, 200, 11);
    record(field, 300, undefined); // key missing
    record(field, 400, 11);
    record(field, 500, 13);
    expect(field.changes).toEqual([{ at: 200, value: 11 }, { at: 500, value: 13 }]);
    expect(firstShown(field, 1)).toBe(200);
    expect(firstShown(field, 2)).toBe(500);
    expect(firstShown(field, 3)).toBe(500);
    expect(firstShown(field, 4)).toBeNull();
    expect(firstShown(field, 2, 499)).toBeNull();
  });
});

describe('commitLags', () => {
  const commit = (ordinal: number, at: number, kind: Commit['kind'] = 'new_run'): Commit => ({ kind, ordinal, at, scenario: 's' });

  it('waits for every field of a key and every key of the kind; other kinds do not count', () => {
    const histories = [
      history('a', 'a.one', 0, [[1_100, 1], [2_500, 2]]),
      history('a', 'a.two', 5, [[1_300, 6], [2_400, 7]]),
      history('b', 'b.one', 0, [[1_800, 2]]),
      history('c', 'c.user', 0, [[9_000, 1]], 'new_user'),
    ];
    const [first, second] = commitLags([commit(1, 1_000), commit(2, 2_000)], histories, () => Infinity);
    // a shows #1 once both fields do (1,300), b at 1,800.
    expect(first).toMatchObject({ keys: 2, keysSeen: 2, firstKeyMs: 300, everyKeyMs: 800 });
    // b showed #2 already at 1,800 (before the commit's own instant: counted as 0); a at 2,500.
    expect(second).toMatchObject({ keys: 2, keysSeen: 2, firstKeyMs: 0, everyKeyMs: 500 });
  });

  it('reports a commit some key did not show by the deadline as not seen', () => {
    const histories = [history('a', 'a.one', 0, [[1_100, 1]]), history('b', 'b.one', 0, [[5_000, 1]])];
    const [lag] = commitLags([commit(1, 1_000)], histories, () => 4_000);
    expect(lag).toMatchObject({ keys: 2, keysSeen: 1, firstKeyMs: 100, everyKeyMs: null });
    const summary = summarizeLags([lag!]);
    expect(summary).toMatchObject({ committed: 1, seen: 0, firstKeyP50: 100 });
    expect(summary.p99).toBeNaN();
  });
});

describe('cpuPerMinute', () => {
  // 500 ms of CPU every 30 s, read every second.
  const readings = Array.from({ length: 200 }, (_, second) => ({ at: second * 1_000, cpuMs: Math.floor(second / 30) * 500 }));

  it('cuts the span into minutes, scaling a last part of at least 10 s', () => {
    expect(cpuPerMinute(readings, 0, 150_000)).toEqual([1_000, 1_000, 1_000]); // 30 s left: 500 ms → 1,000 a minute
    expect(cpuPerMinute(readings, 0, 125_000)).toEqual([1_000, 1_000]); // 5 s left: dropped
  });

  it('scales a span shorter than a minute', () => {
    expect(cpuPerMinute(readings, 0, 30_000)).toEqual([1_000]);
  });

  it('the mean counts a spike wherever it lands (the total over the span, a minute)', () => {
    const spiky = [{ at: 0, cpuMs: 0 }, { at: 150_000, cpuMs: 0 }, { at: 151_000, cpuMs: 540 }, { at: 180_000, cpuMs: 540 }];
    expect(cpuPerMinute(spiky, 0, 180_000)).toEqual([0, 0, 540]);
    expect(cpuMeanPerMinute(spiky, 0, 180_000)).toBe(180);
    expect(cpuMeanPerMinute(readings, 0, 120_000)).toBe(1_000);
  });
});

describe('watches', () => {
  const context = { cutoffLabel: '2026-11-30T00:00:00', quietPeriods: new Set(['all', 'last_day'] as const) };

  it('cuts at the earlier of the Monday and the first of the month', () => {
    expect(cutoffLabel(new Date('2026-12-07T01:40:00Z'))).toBe('2026-12-01T00:00:00'); // a Monday: the month starts earlier
    expect(cutoffLabel(new Date('2026-12-02T23:59:00Z'))).toBe('2026-11-30T00:00:00'); // its week started in November
    expect(fullLabel('2026-12')).toBe('2026-12-01T00:00:00');
    expect(fullLabel('2026-12-07')).toBe('2026-12-07T00:00:00');
  });

  it('watches a summary only where no seeded row moves its totals', () => {
    const summary = { total_executions: 5, total_executions_finished: 3, total_users: 2 };
    const quiet = watchesOf('stats_service:_get_summary_stats:period=last_day', summary, context);
    expect(quiet.map((watch) => `${watch.kind} ${watch.field}`)).toEqual([
      'new_run summary.total_executions',
      'run_finished summary.total_executions_finished',
      'new_user summary.total_users',
    ]);
    expect(quiet[0]!.read({ ...summary, total_executions: 6 })).toBe(6);
    expect(watchesOf('stats_service:_get_summary_stats:period=last_year', summary, context)).toEqual([]);
  });

  it('sums trends, series and registrations from the cutoff on only', () => {
    const key = 'stats_service:get_dashboard_stats:include=trends_period=last_year';
    const payload = { trends: { daily_jobs: [{ date: '2026-11-29', count: 40 }, { date: '2026-12-07', count: 2 }], monthly_jobs: [{ month: '2026-11', count: 9 }, { month: '2026-12', count: 2 }] } };
    const watches = watchesOf(key, payload, context);
    expect(watches.map((watch) => [watch.field, watch.read(payload)])).toEqual([
      ['trends.daily_jobs[>=cutoff].count', 2],
      ['trends.monthly_jobs[>=cutoff].count', 2],
    ]);
    const users = { registration_trends: [{ date: '2026-11-29T23:00:00', new_users: 7 }, { date: '2026-11-30T01:00:00', new_users: 1 }], geographic_distribution: { countries: { Kenya: 3 }, total_users: 3 } };
    const userWatches = watchesOf('stats_service:get_user_stats:country=none_group_by=hour_period=last_week', users, context);
    expect(userWatches.map((watch) => [watch.field, watch.read(users)])).toEqual([
      [`geographic.countries[${PROBE_COUNTRY}]`, 0],
      ['registration_trends[>=cutoff].new_users', 1],
    ]);
  });

  it('leaves out what a status filter hides, and counts a task absent from task_performance as 0', () => {
    const payload = {
      time_series: [{ timestamp: '2026-12-07T00:00:00', total: 1, by_status: { FAILED: 1 }, by_task: { [PROBE_SLUG]: 1 } }],
      top_users: [],
      task_performance: [{ task: 'land-cover', total_executions: 4 }],
    };
    const failed = watchesOf('stats_service:get_execution_stats:group_by=day_period=last_month_status=FAILED_task_type=none', payload, context);
    expect(failed.map((watch) => [watch.field, watch.read(payload)])).toEqual([[`task_performance[${PROBE_SLUG}].total_executions`, 0]]);
    const all = watchesOf('stats_service:get_execution_stats:group_by=day_period=last_month_status=none_task_type=none', payload, context);
    expect(all.map((watch) => [watch.kind, watch.field, watch.read(payload)])).toEqual([
      ['run_finished', `task_performance[${PROBE_SLUG}].total_executions`, 0],
      ['new_run', `time_series[>=cutoff].by_task[${PROBE_SLUG}]`, 1],
      ['run_finished', 'time_series[>=cutoff].by_status.FINISHED', 0],
    ]);
  });

  it('finds the quiet periods from the newest seeded row', () => {
    const quiet = quietPeriods(new Date('2026-12-07T00:00:00Z'), new Date('2026-06-15T12:34:56Z'));
    expect([...quiet].sort()).toEqual(['all', 'last_day', 'last_month', 'last_week']);
  });
});

describe('scenarios', () => {
  it('commits a burst of 100 changes within one second', () => {
    const writes = SCENARIOS.burst.writes(10_000);
    expect(writes).toHaveLength(100);
    expect(writes.at(-1)!.offsetMs - writes[0]!.offsetMs).toBeLessThan(1_000);
    expect(plannedChanges([{ name: 'per-minute', durationMs: 300_000 }, { name: 'progress-noise', durationMs: 60_000 }, { name: 'burst', durationMs: 60_000 }])).toBe(105);
  });
});

describe('the table', () => {
  it('pads columns, the first to the left', () => {
    expect(formatTable(['name', 'n'], [['a', '10'], ['long', '2']])).toBe(['name   n', '----  --', 'a     10', 'long   2'].join('\n'));
  });

  it('gives a row per scenario, one per kind when several, and says when only progress was written', () => {
    const lag = { committed: 2, seen: 1, p50: 1_500, p99: 2_000, max: 2_000, firstKeyP50: 800 };
    const base: ScenarioResult = {
      contender: 'cron', scenario: 'per-second', durationMs: 60_000, drainMs: 5_000, commits: 2, noiseWrites: 0,
      lags: { all: lag, new_run: lag, new_user: lag }, estimateMs: { p50: 120_000, max: 240_000 }, runsByReason: { cron: 2, start: 0 },
      runsMetrics: {}, pgCpuPerMinuteMs: { median: 900.4, min: 800, max: 1_000 }, pgCpuMeanPerMinuteMs: 1_234.4, cliCpuPerMinuteMs: { median: 50, min: 50, max: 50 }, peakRssMib: 150.2,
    };
    const noise: ScenarioResult = { ...base, scenario: 'progress-noise', commits: 0, noiseWrites: 600, lags: {}, estimateMs: null, runsByReason: {} };
    const rows = tableRows([base, noise]);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual(['cron', 'per-second', 'all', '1/2', '1.5 s', '2.0 s', '2.0 s', '0.8 s', '120.0 s / 240.0 s', 'cron 2', '1234 ms mean; 900 ms (800–1000)', '50 ms (50–50)', '150 MiB']);
    expect(rows[1]!.slice(0, 4)).toEqual(['', '', 'new_run', '1/2']);
    expect(rows[3]!.slice(2, 5)).toEqual(['none (600 progress writes)', '0/0', '–']);
    expect(rows[3]![9]).toBe('none');
  });
});
