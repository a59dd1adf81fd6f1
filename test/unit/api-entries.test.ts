/**
 * Which keys are the API's, pure: stray keys (no endpoint's method, not a string, no expiry)
 * are named and never evidence; a key ours cannot read counts for its own endpoint only; the
 * instants a value may stem from, bounded by the largest remaining TTL seen.
 */
import { describe, expect, it } from 'vitest';
import type { Fingerprint } from '../../src/io/drift-store.js';
import { apiKeysOf, concerns, instantsOf, type ScannedKey, theirKeys } from '../../src/stats/api-entries.js';
import { partsOf } from '../../src/stats/sections.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const TTLS = { apiTtlMs: 300_000, ourTtlMs: 300_000 };
const EXECUTIONS = 'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=none';
const print = (over: Partial<Fingerprint> = {}): Fingerprint => ({ sha1: 'a'.repeat(40), wrongType: false, pttlMs: 200_000, ...over });
const scanned = (key: string, over: Partial<Fingerprint> = {}, meta: string | null = null): ScannedKey => ({ key, meta, print: print(over) });

describe('stray keys', () => {
  it.each([
    ['stats_service:', 'extends no endpoint'],
    ['stats_service:get_foo_stats:period=all', 'extends no endpoint'],
  ])('%s is a problem, no endpoint\'s evidence', (key, why) => {
    expect(concerns(key, ['dashboard'])).toBe(true);
    const found = theirKeys([scanned(key)], NOW);
    expect(found.theirs).toEqual([]);
    expect(found.stray).toEqual([{ key, why: expect.stringContaining(why) }]);
  });

  it('a key of another type, or without expiry, is a problem', () => {
    const found = theirKeys([scanned(EXECUTIONS, { wrongType: true, sha1: null }), scanned(`${EXECUTIONS}x`, { pttlMs: -1 })], NOW);
    expect(found.theirs).toEqual([]);
    expect(found.stray.map((stray) => stray.why)).toEqual([expect.stringMatching(/holds no string/), expect.stringMatching(/no expiry/)]);
  });

  it('a parameter or method added counts for the endpoint it extends only', () => {
    const added = 'stats_service:get_execution_stats:group_by=day_limit=10_period=last_month_status=none_task_type=none';
    const renamed = 'stats_service:get_execution_stats_v2:period=all';
    const found = apiKeysOf(theirKeys([scanned(added), scanned(renamed)], NOW), new Map(), NOW, TTLS);
    expect(found.unreadable.map(({ key, endpoints }) => [key, endpoints])).toEqual([
      [added, ['executions']],
      [renamed, ['executions']],
    ]);
    expect(concerns(added, ['users'])).toBe(false);
  });

  it('our own keys (the SHA-1 we recorded) are not the API\'s', () => {
    const meta = JSON.stringify({ written_at: NOW.toISOString(), compute_ms: 1, ttl_seconds: 300, sha1: 'a'.repeat(40) });
    expect(theirKeys([scanned(EXECUTIONS, {}, meta)], NOW)).toEqual({ theirs: [], stray: [] });
  });
});

describe('the instants a value may stem from', () => {
  const parts = partsOf({ family: 'executions', period: 'last_week', groupBy: 'hour', taskType: null, status: null });

  it('from its write by the TTL as set (less the time the API computes) to its write by the largest life seen', () => {
    const instants = instantsOf(240_000, 270_000, parts, NOW, TTLS)!;
    const written = NOW.getTime() - 60_000;
    expect(instants.lo.getTime()).toBe(Math.floor((written - 30_000) / 60_000) * 60_000);
    expect(instants.hi.getTime()).toBe(Math.ceil((NOW.getTime() - 30_000) / 60_000) * 60_000);
  });

  it('--api-cache-ttl 300 while the API writes EX 120: the window still holds the real write', () => {
    // Written 30 s ago with EX 120: 90 s left. The setting alone would date it 210 s ago.
    const instants = instantsOf(90_000, 120_000, parts, NOW, TTLS)!;
    const written = NOW.getTime() - 30_000;
    expect(instants.lo.getTime()).toBeLessThanOrEqual(written);
    expect(instants.hi.getTime()).toBeGreaterThanOrEqual(written);
  });

  it('none for a key with more life left than the setting allows, and such keys are listed', () => {
    expect(instantsOf(900_000, 0, parts, NOW, TTLS)).toBeNull();
    const found = apiKeysOf(theirKeys([scanned(EXECUTIONS, { pttlMs: 900_000 })], NOW), new Map([[EXECUTIONS, '{}']]), NOW, TTLS);
    expect(found.longerThanSet).toEqual([EXECUTIONS]);
    expect(found.entries[0]!.instants).toBeNull();
  });

  it('the largest remaining life bounds every key\'s window', () => {
    const other = EXECUTIONS.replace('group_by=hour', 'group_by=day');
    const keys = [scanned(EXECUTIONS, { pttlMs: 119_000 }), scanned(other, { pttlMs: 60_000 })];
    const found = apiKeysOf(theirKeys(keys, NOW), new Map([[EXECUTIONS, '{}'], [other, '{}']]), NOW, TTLS);
    const instantsAt = (key: string) => found.entries.find((entry) => entry.key === key)!.instants!;
    const [fresh, older] = [instantsAt(EXECUTIONS), instantsAt(other)];
    // The older key was written (119 - 60) s before the fresh one at the latest.
    expect(older.hi.getTime()).toBe(Math.ceil((NOW.getTime() - 59_000) / 60_000) * 60_000);
    expect(fresh.hi.getTime()).toBe(Math.ceil(NOW.getTime() / 60_000) * 60_000);
  });
});
