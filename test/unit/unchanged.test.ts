/**
 * The unchanged path's pure parts: the validity horizon from the probe's oldest times, when a
 * stored data state still holds, when a key can be kept, the keys a family reads, and how an
 * unchanged family shows in the summary and the metrics.
 */
import { describe, expect, it } from 'vitest';
import { type DataState, keysDigest, parseDataState } from '../../src/io/data-state.js';
import { validUntilOf } from '../../src/pass/change-probe.js';
import { requestsFor } from '../../src/requests/batches.js';
import { coveredKeys } from '../../src/requests/covered.js';
import { payloadKey } from '../../src/requests/request-keys.js';
import { WINDOWS_MS } from '../../src/lib/time.js';
import { outcomesOf, type PlannedRequest, type RefreshRun, summaryOf } from '../../src/run/results.js';
import { familyKeys, keyDoubt, reasonToCompute, stillToCompute, type UnchangedCheck } from '../../src/run/unchanged.js';

const DAY_US = 86_400_000_000n;
const NOW_MS = Date.parse('2026-06-15T12:34:56Z');
const nowUs = BigInt(NOW_MS) * 1000n;

/** The probe's reply with only the one-day window holding a row, at `micros`. */
const oneDay = (micros: bigint) => WINDOWS_MS.map((windowMs) => (windowMs === 86_400_000 ? micros : null));

describe('validUntilOf', () => {
  it('is the last millisecond not after the oldest row of a window plus the window', () => {
    // A row 1 d - 10.5 ms ago leaves the one-day window 10.5 ms from now: 10 ms is the last whole one.
    expect(validUntilOf(oneDay(nowUs - DAY_US + 10_500n))!.getTime()).toBe(NOW_MS + 10);
    // On a millisecond boundary the boundary itself is still valid (time >= now - W).
    expect(validUntilOf(oneDay(nowUs - DAY_US + 10_000n))!.getTime()).toBe(NOW_MS + 10);
    expect(validUntilOf(oneDay(nowUs - DAY_US + 9_999n))!.getTime()).toBe(NOW_MS + 9);
    expect(validUntilOf(oneDay(nowUs - DAY_US + 10_001n))!.getTime()).toBe(NOW_MS + 10);
  });

  it('floors before 1970 too', () => {
    const micros = -DAY_US - 1n; // a row 1 µs before 1969-12-31T00:00: one-day window ends 1 µs before 1970
    expect(validUntilOf(oneDay(micros))!.getTime()).toBe(-1);
  });

  it('takes the least bound over every window, and none without rows', () => {
    const year = WINDOWS_MS.indexOf(365 * 86_400_000);
    const firsts = WINDOWS_MS.map(() => null as bigint | null);
    firsts[year] = nowUs - 365n * DAY_US + 5_000n;
    firsts[0] = nowUs; // the one-day window's row leaves in a day: later than the year's
    expect(validUntilOf(firsts)!.getTime()).toBe(NOW_MS + 5);
    expect(validUntilOf(WINDOWS_MS.map(() => null))).toBeNull();
    // Beyond what a Date holds: no bound.
    expect(validUntilOf(oneDay(9_000_000_000_000_000_000n))).toBeNull();
  });

  it('covers every window a payload applies', () => {
    expect(WINDOWS_MS.map((ms) => ms / 3_600_000)).toEqual([24, 72, 168, 720, 8760]);
  });
});

const state: DataState = {
  fingerprint: 'f1',
  fingerprint_at: '2026-06-15T12:34:50.000Z',
  now: '2026-06-15T12:34:56.000Z',
  valid_until: '2026-06-15T12:37:14.569Z',
  build: 'b1',
  keys_digest: keysDigest(['a', 'b']),
};
const current = { fingerprint: 'f1', build: 'b1', now: new Date('2026-06-15T12:35:00Z'), keysDigest: keysDigest(['b', 'a']), maxAgeMs: 300_000 };

describe('reasonToCompute', () => {
  it('keeps a state whose fingerprint, build and keys match, between its instant and its horizon (both included)', () => {
    expect(reasonToCompute(state, current)).toBeNull();
    expect(reasonToCompute(state, { ...current, now: new Date(state.now) })).toBeNull();
    expect(reasonToCompute(state, { ...current, now: new Date(state.valid_until!) })).toBeNull();
    expect(reasonToCompute({ ...state, valid_until: null }, { ...current, now: new Date(Date.parse(state.now) + 300_000) })).toBeNull();
  });

  it('computes on any difference', () => {
    expect(reasonToCompute(null, current)).toBe('no state stored');
    expect(reasonToCompute(state, { ...current, fingerprint: 'f2' })).toBe('data changed');
    expect(reasonToCompute(state, { ...current, build: 'b2' })).toBe('stored by another build');
    expect(reasonToCompute(state, { ...current, now: new Date(Date.parse(state.valid_until!) + 1) })).toBe('validity horizon passed');
    expect(reasonToCompute(state, { ...current, now: new Date(Date.parse(state.now) - 1) })).toBe('now is before the stored instant');
    expect(reasonToCompute(state, { ...current, keysDigest: keysDigest(['a', 'b', 'c']) })).toBe('other keys');
    // Never kept longer than the API's own cache lifetime, whatever the horizon.
    expect(reasonToCompute({ ...state, valid_until: null }, { ...current, now: new Date(Date.parse(state.now) + 300_001) })).toBe(
      'kept for --api-cache-ttl already',
    );
  });
});

describe('keyDoubt', () => {
  const meta = { written_at: 'w', compute_ms: 1, ttl_seconds: 300, sha1: 's', as_of: state.now };
  it('keeps a key holding what we wrote for an instant the state covers', () => {
    expect(keyDoubt('s', meta, state)).toBeNull();
    expect(keyDoubt('s', { ...meta, as_of: state.valid_until! }, state)).toBeNull();
  });
  it('computes for a key gone, rewritten, unrecorded or of another instant', () => {
    expect(keyDoubt(null, meta, state)).toBe('key gone');
    expect(keyDoubt('t', meta, state)).toBe('key not as we wrote it');
    expect(keyDoubt('s', null, state)).toBe('key not as we wrote it');
    expect(keyDoubt('s', { ...meta, as_of: undefined }, state)).toBe('key computed for another instant');
    expect(keyDoubt('s', { ...meta, as_of: '2026-06-15T12:37:14.570Z' }, state)).toBe('key computed for another instant');
  });
});

describe('stored state', () => {
  it('reads back what it wrote, and nothing else', () => {
    expect(parseDataState(JSON.stringify(state))).toEqual(state);
    expect(parseDataState('{"fingerprint": 1}')).toBeNull();
    expect(parseDataState('not json')).toBeNull();
    expect(parseDataState(undefined)).toBeNull();
  });
});

describe('family keys', () => {
  const batch = requestsFor(['dashboard', 'executions', 'users']).map((request): PlannedRequest => ({ request, origin: 'batch' }));
  it('are every covered key of the family: payloads and the sections cached on their own', () => {
    const all = new Set(['dashboard', 'executions', 'users'].flatMap((family) => familyKeys(batch, family as 'users')));
    expect([...all].sort()).toEqual([...coveredKeys().keys()].sort());
    expect(familyKeys(batch, 'users')).toContain('stats_service:_get_geographic_data:period=last_year');
  });

  it('leave out requests given on the command line: those are always computed', () => {
    const request: PlannedRequest = { request: { ...batch[0]!.request, period: 'last_day' } as PlannedRequest['request'], origin: 'request' };
    expect(familyKeys([...batch, request], 'dashboard')).toEqual(familyKeys(batch, 'dashboard'));
    const check = { unchanged: new Map([['dashboard', { as_of: 'a', valid_until: null, keys: 1 }]]) } as unknown as UnchangedCheck;
    const left = stillToCompute([...batch, request], check);
    expect(left).toContain(request);
    expect(left.some((planned) => planned.origin === 'batch' && planned.request.family === 'dashboard')).toBe(false);
    expect(left.filter((planned) => planned.request.family === 'users')).toHaveLength(requestsFor(['users']).length);
    expect(payloadKey(request.request)).not.toBe(payloadKey(batch[0]!.request));
  });
});

describe('an unchanged family in the summary and the metrics', () => {
  const run: RefreshRun = {
    command: 'refresh all',
    now: new Date(NOW_MS),
    startedAt: new Date(NOW_MS),
    dryRun: false,
    ttlSeconds: 300,
    durationMs: 0,
    statements: 1,
    dbMs: 0,
    families: [],
    skipped: [],
    interrupted: null,
    results: [],
    payloads: null,
    sha1: new Map(),
    drift: new Map(),
    unchanged: new Map([['users', { as_of: state.now, valid_until: state.valid_until, keys: 11 }]]),
  };
  it('is a field of its own, the other fields as for a run that wrote nothing', () => {
    const summary = summaryOf(run);
    expect(summary).toMatchObject({ total_refreshed: 0, failed: 0, cache_keys: [], statements: 1 });
    expect(summary.unchanged).toEqual({ users: { as_of: state.now, valid_until: state.valid_until, keys: 11 } });
    expect(summaryOf({ ...run, unchanged: new Map() }).unchanged).toBeUndefined();
  });
  it('is an outcome of its own', () => {
    expect(outcomesOf(run, new Date()).map((outcome) => [outcome.family, outcome.result])).toEqual([['users', 'unchanged']]);
  });
});
