/**
 * The drift judgement, pure: when value differences become drift (the tables' change
 * counters unchanged from before the API's window to a minute after they were found), when
 * they are dropped, and what is recorded and pruned; the metrics' gauge.
 */
import { describe, expect, it } from 'vitest';
import type { ChangeCounters, DriftState, PendingValues } from '../../src/io/drift-store.js';
import { RefreshMetrics } from '../../src/io/metrics.js';
import { type ApiEntry, type Comparison, judge } from '../../src/run/drift-check.js';
import { BUILD } from '../../src/lib/version.js';

const T = Date.parse('2026-06-15T12:00:00Z');
const at = (seconds: number) => new Date(T + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const COUNTERS: ChangeCounters = { execution: '100', user: '10', script: '5' };
const MOVED: ChangeCounters = { ...COUNTERS, execution: '101' };
const KEY = 'stats_service:get_execution_stats:group_by=day_period=last_week_status=none_task_type=none';

const pending = (over: Partial<PendingValues> = {}): PendingValues => ({
  endpoint: 'executions',
  key: KEY,
  differences: [{ kind: 'values', path: 'time_series[2026-06-14T00:00:00].total', detail: "the API's 3, ours 4" }],
  found_at: iso(0),
  counters: COUNTERS,
  since: iso(-30),
  ...over,
});

function state(over: Partial<DriftState> = {}): DriftState {
  return { records: new Map(), pending: new Map([[KEY, pending()]]), history: [{ at: iso(-600), counters: COUNTERS }], ...over };
}

const noComparisons = { comparisons: [], unreadable: [] };

describe('value differences', () => {
  it('become drift when the counters are unchanged from before the window to a minute after', () => {
    const judgement = judge(state(), { ...noComparisons, counters: COUNTERS, now: at(120) });
    expect(judgement.found.get('executions')).toMatchObject({ endpoint: 'executions', key: KEY, build: BUILD, detected_at: iso(120) });
    expect(judgement.settle).toEqual([KEY]);
  });

  it('wait while the statistics may still lag (less than a minute)', () => {
    const judgement = judge(state(), { ...noComparisons, counters: COUNTERS, now: at(30) });
    expect(judgement.found.size).toBe(0);
    expect(judgement.settle).toEqual([]);
  });

  it('are dropped when the counters moved, or no sample precedes the window by a minute', () => {
    expect(judge(state(), { ...noComparisons, counters: MOVED, now: at(120) })).toMatchObject({ found: new Map(), settle: [KEY] });
    const late = state({ history: [{ at: iso(-60), counters: COUNTERS }] });
    expect(judge(late, { ...noComparisons, counters: COUNTERS, now: at(120) })).toMatchObject({ found: new Map(), settle: [KEY] });
    const moved = state({ history: [{ at: iso(-600), counters: MOVED }] });
    expect(judge(moved, { ...noComparisons, counters: COUNTERS, now: at(120) }).found.size).toBe(0);
  });

  it('are never proven by tables without statistics (a view)', () => {
    const view: ChangeCounters = { ...COUNTERS, execution: null };
    const judgement = judge(state({ pending: new Map([[KEY, pending({ counters: view })]]), history: [{ at: iso(-600), counters: view }] }), {
      ...noComparisons,
      counters: view,
      now: at(120),
    });
    expect(judgement.found.size).toBe(0);
  });

  it('found by this run wait for a later one, with the counters and window they need', () => {
    const entry: ApiEntry = { key: KEY, endpoint: 'executions', value: '{}', parts: [], instants: { lo: at(-30), hi: at(0) } };
    const comparison: Comparison = { entry, compared: true, shape: [], values: pending().differences, why: null };
    const judgement = judge(state({ pending: new Map() }), { comparisons: [comparison], unreadable: [], counters: COUNTERS, now: at(5) });
    expect(judgement.found.size).toBe(0);
    expect(judgement.pending?.get(KEY)).toEqual(pending({ found_at: iso(5) }));
  });
});

describe('the state kept', () => {
  it('a sample of the counters each run; samples older than two hours pruned', () => {
    const judgement = judge(state({ pending: new Map(), history: [{ at: iso(-3 * 3600), counters: COUNTERS }, { at: iso(-600), counters: COUNTERS }] }), {
      ...noComparisons,
      counters: COUNTERS,
      now: at(0),
    });
    expect(judgement.sample).toEqual({ at: iso(0), counters: COUNTERS });
    expect(judgement.prune).toEqual([iso(-3 * 3600)]);
  });

  it('a drift of shape is recorded once per endpoint; a shared section shows on both endpoints', () => {
    const entry: ApiEntry = { key: 'stats_service:_get_geographic_data:period=all', endpoint: 'dashboard', value: '{}', parts: [], instants: null };
    const comparison: Comparison = { entry, compared: true, shape: [{ kind: 'structure', path: 'top_countries', detail: 'x' }], values: null, why: null };
    const judgement = judge(state({ pending: new Map() }), { comparisons: [comparison, comparison], unreadable: [], counters: null, now: at(0) });
    expect([...judgement.found.keys()].sort()).toEqual(['dashboard', 'users']);
    expect(judgement.sample).toBeUndefined();
  });
});

describe('the metrics', () => {
  it('stats_refresh_drift{endpoint} is 1 while drift is recorded, and a run that could not start leaves it', async () => {
    const metrics = new RefreshMetrics();
    const outcome = { family: 'users' as const, result: 'failed' as const, finishedAt: at(0), durationSeconds: 1, statements: 4, requestsOk: 0, requestsFailed: 6, keysWritten: 0, learnedRequests: 0 };
    metrics.recordRun({ ...outcome, drift: true });
    expect(await metrics.text()).toMatch(/^stats_refresh_drift\{endpoint="users"\} 1$/m);
    metrics.recordRun({ ...outcome, drift: null });
    expect(await metrics.text()).toMatch(/^stats_refresh_drift\{endpoint="users"\} 1$/m);
    metrics.recordRun({ ...outcome, result: 'ok', drift: false });
    expect(await metrics.text()).toMatch(/^stats_refresh_drift\{endpoint="users"\} 0$/m);
  });
});
