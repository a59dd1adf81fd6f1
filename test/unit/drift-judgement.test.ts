/**
 * The drift judgement, pure: when differences become drift (corroborated by enough keys;
 * values once the tables' change counters prove the data still, never on a hot standby),
 * when they are dropped (disproven, or their evidence withdrawn), and what is kept.
 */
import { describe, expect, it } from 'vitest';
import type { ChangeCounters, DriftRecord, DriftState, Evidence, PendingDifference } from '../../src/io/drift-store.js';
import { BUILD } from '../../src/lib/version.js';
import type { Comparison } from '../../src/stats/api-comparison.js';
import type { ApiEntry } from '../../src/stats/api-entries.js';
import { CORROBORATING_KEYS, type ChangeProof, judge, withdrawnRecords } from '../../src/stats/drift-judgement.js';

const T = Date.parse('2026-06-15T12:00:00Z');
const at = (seconds: number) => new Date(T + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const COUNTERS: ChangeCounters = { execution: '100', user: '10', script: '5' };
const MOVED: ChangeCounters = { ...COUNTERS, execution: '101' };
const PRIMARY: ChangeProof = { counters: COUNTERS, standby: false };
const KEY = 'stats_service:get_execution_stats:group_by=day_period=last_week_status=none_task_type=none';
const OTHER = 'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=none';
const VALUES = [{ kind: 'values' as const, path: 'time_series[2026-06-14T00:00:00].total', detail: "the API's 3, ours 4" }];
const SHAPE = [{ kind: 'format' as const, path: 'time_series[].timestamp', detail: 'the API writes date and time with an offset' }];

const evidence = (key: string, sha1 = 'a'.repeat(40), expires = 300): Evidence => ({ key, sha1, expires_at: iso(expires) });

const waiting = (over: Partial<PendingDifference> = {}): PendingDifference => ({
  endpoint: 'executions',
  key: KEY,
  differences: VALUES,
  found_at: iso(0),
  counters: COUNTERS,
  since: iso(-30),
  awaits: 'proof',
  evidence: evidence(over.key ?? KEY),
  ...over,
});

function state(...pending: PendingDifference[]): DriftState {
  return { records: new Map(), pending: new Map(pending.map((entry) => [entry.key, entry])), history: [{ at: iso(-600), counters: COUNTERS }], problems: [] };
}

const run = (now: number, over: Partial<Parameters<typeof judge>[1]> = {}) => ({ comparisons: [], unreadable: [], proof: PRIMARY, now: at(now), ...over });

function shapeAt(key: string, sha1 = 'b'.repeat(40)): Comparison {
  const entry: ApiEntry = { key, endpoint: 'executions', value: '{}', parts: [], instants: null, evidence: evidence(key, sha1) };
  return { entry, compared: true, shape: SHAPE, values: null, why: null, problem: null };
}

it('drift needs more than one key', () => {
  expect(CORROBORATING_KEYS).toBeGreaterThan(1);
});

describe('value differences', () => {
  it('proven by the counters (unchanged from before the window to a minute after) wait for a second key', () => {
    const judgement = judge(state(waiting()), run(120));
    expect(judgement.found.size).toBe(0);
    expect(judgement.proven.get('executions')).toMatchObject({ key: KEY });
    expect(judgement.pending?.get(KEY)).toMatchObject({ awaits: 'corroboration', differences: VALUES });
  });

  it('proven at two keys are drift', () => {
    const judgement = judge(state(waiting(), waiting({ key: OTHER })), run(120));
    expect(judgement.found.get('executions')).toMatchObject({ endpoint: 'executions', key: KEY, build: BUILD, detected_at: iso(120) });
    expect(judgement.found.get('executions')!.evidence!.map((piece) => piece.key)).toEqual([KEY, OTHER]);
    expect(judgement.settle).toEqual([KEY, OTHER]);
  });

  it('wait while the statistics may still lag (less than a minute)', () => {
    const judgement = judge(state(waiting(), waiting({ key: OTHER })), run(30));
    expect(judgement.found.size).toBe(0);
    expect(judgement.settle).toEqual([]);
  });

  it('are dropped when the counters moved, or no sample precedes the window by a minute', () => {
    expect(judge(state(waiting()), run(120, { proof: { counters: MOVED, standby: false } }))).toMatchObject({ found: new Map(), settle: [KEY] });
    const late = { ...state(waiting()), history: [{ at: iso(-60), counters: COUNTERS }] };
    expect(judge(late, run(120))).toMatchObject({ found: new Map(), settle: [KEY], proven: new Map() });
  });

  it('are never proven by tables without statistics (a view)', () => {
    const view: ChangeCounters = { ...COUNTERS, execution: null };
    const judgement = judge({ ...state(waiting({ counters: view }), waiting({ key: OTHER, counters: view })), history: [{ at: iso(-600), counters: view }] }, run(120, { proof: { counters: view, standby: false } }));
    expect(judgement.found.size).toBe(0);
    expect(judgement.proven.size).toBe(0);
  });

  it('are never proven on a hot standby, where the counters do not move; nor are the counters sampled there', () => {
    const standby = judge(state(waiting(), waiting({ key: OTHER })), run(120, { proof: { counters: COUNTERS, standby: true } }));
    expect(standby.found.size).toBe(0);
    expect(standby.proven.size).toBe(0);
    expect(standby.sample).toBeUndefined();
    // The same data on a primary: drift.
    expect(judge(state(waiting(), waiting({ key: OTHER })), run(120)).found.size).toBe(1);
  });

  it('found by this run wait for a later one, with the counters and window they need; not on a standby', () => {
    const entry: ApiEntry = { key: KEY, endpoint: 'executions', value: '{}', parts: [], instants: { lo: at(-30), hi: at(0) }, evidence: evidence(KEY) };
    const comparison: Comparison = { entry, compared: true, shape: [], values: VALUES, why: null, problem: null };
    const judgement = judge(state(), run(5, { comparisons: [comparison] }));
    expect(judgement.found.size).toBe(0);
    expect(judgement.pending?.get(KEY)).toEqual(waiting({ found_at: iso(5) }));
    expect(judge(state(), run(5, { comparisons: [comparison], proof: { counters: COUNTERS, standby: true } })).pending?.size).toBe(0);
  });

  it('found again at the same value keep their first finding (else a live key would never be proven)', () => {
    const entry: ApiEntry = { key: KEY, endpoint: 'executions', value: '{}', parts: [], instants: { lo: at(-30), hi: at(0) }, evidence: evidence(KEY) };
    const comparison: Comparison = { entry, compared: true, shape: [], values: VALUES, why: null, problem: null };
    const judgement = judge(state(waiting()), run(120, { comparisons: [comparison] }));
    expect(judgement.pending?.get(KEY)).toMatchObject({ awaits: 'corroboration', found_at: iso(0) });
  });
});

describe('differences of shape', () => {
  it('at one key wait for another key, and are no drift yet', () => {
    const judgement = judge(state(), run(0, { comparisons: [shapeAt(KEY)] }));
    expect(judgement.found.size).toBe(0);
    expect(judgement.pending?.get(KEY)).toMatchObject({ awaits: 'corroboration', differences: SHAPE, evidence: { key: KEY } });
  });

  it('at one key, shown again by it, stay one piece of evidence', () => {
    const first = judge(state(), run(0, { comparisons: [shapeAt(KEY)] }));
    const again = judge(state(first.pending!.get(KEY)!), run(240, { comparisons: [shapeAt(KEY)] }));
    expect(again.found.size).toBe(0);
  });

  it('at two keys are drift, at once or a run apart', () => {
    expect(judge(state(), run(0, { comparisons: [shapeAt(KEY), shapeAt(OTHER)] })).found.has('executions')).toBe(true);
    const first = judge(state(), run(0, { comparisons: [shapeAt(KEY)] }));
    const second = judge(state(first.pending!.get(KEY)!), run(240, { comparisons: [shapeAt(OTHER)] }));
    expect(second.found.get('executions')!.evidence!.map((piece) => piece.key)).toEqual([OTHER, KEY]);
    expect(second.settle).toEqual([KEY]);
  });

  it('a shared section shows on both endpoints', () => {
    const geographic = 'stats_service:_get_geographic_data:period=all';
    const comparisons = [geographic, 'stats_service:_get_geographic_data:period=last_year'].map((key): Comparison => ({
      ...shapeAt(key),
      entry: { ...shapeAt(key).entry, endpoint: 'dashboard' },
    }));
    const judgement = judge(state(), run(0, { comparisons, proof: null }));
    expect([...judgement.found.keys()].sort()).toEqual(['dashboard', 'users']);
    expect(judgement.sample).toBeUndefined();
  });

  it('are no piece of evidence when the value is no payload (a problem instead)', () => {
    const garbage: Comparison = { ...shapeAt(KEY), shape: [], compared: false, problem: 'its value is no stats payload' };
    const judgement = judge(state(), run(0, { comparisons: [garbage, garbage] }));
    expect(judgement.found.size).toBe(0);
    expect(judgement.pending?.size).toBe(0);
  });
});

describe('evidence withdrawn', () => {
  const piece = waiting({ awaits: 'corroboration', differences: SHAPE });

  it('a waiting difference goes when its key was deleted or rewritten before its expiry', () => {
    expect(judge(state(piece), run(60, { current: new Map([[KEY, null]]) })).settle).toEqual([KEY]);
    expect(judge(state(piece), run(60, { current: new Map([[KEY, 'c'.repeat(40)]]) })).settle).toEqual([KEY]);
  });

  it('but stands after its key expired as the API wrote it, or while it holds the same value', () => {
    expect(judge(state(piece), run(400, { current: new Map([[KEY, null]]) })).settle).toEqual([]);
    expect(judge(state(piece), run(60, { current: new Map([[KEY, 'a'.repeat(40)]]) })).settle).toEqual([]);
  });

  it('a record goes when every value that showed it was withdrawn', () => {
    const record: DriftRecord = { endpoint: 'executions', build: BUILD, detected_at: iso(0), key: KEY, differences: SHAPE, evidence: [evidence(KEY), evidence(OTHER)] };
    const recorded = { ...state(), records: new Map([['executions' as const, record]]) };
    expect(withdrawnRecords(recorded, new Map([[KEY, null], [OTHER, null]]), at(60))).toEqual(['executions']);
    expect(withdrawnRecords(recorded, new Map([[KEY, null], [OTHER, 'a'.repeat(40)]]), at(60))).toEqual([]);
    expect(withdrawnRecords(recorded, new Map([[KEY, null]]), at(60))).toEqual([]);
    expect(withdrawnRecords(recorded, new Map([[KEY, null], [OTHER, null]]), at(400))).toEqual([]);
  });
});

describe('the state kept', () => {
  it('a sample of the counters each run; samples older than two hours pruned', () => {
    const judgement = judge({ ...state(), history: [{ at: iso(-3 * 3600), counters: COUNTERS }, { at: iso(-600), counters: COUNTERS }] }, run(0));
    expect(judgement.sample).toEqual({ at: iso(0), counters: COUNTERS });
    expect(judgement.prune).toEqual([iso(-3 * 3600)]);
  });

  it('differences neither proven nor corroborated within two hours are dropped', () => {
    expect(judge(state(waiting({ awaits: 'corroboration', differences: SHAPE })), run(3 * 3600)).settle).toEqual([KEY]);
  });
});
