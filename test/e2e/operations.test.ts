/**
 * On-call commands on the real services: status (and its `cache info` alias), clear,
 * and warmup.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/requests/batches.js';
import { formatStatus } from '../../src/commands/status.js';
import type { CacheStatus } from '../../src/run/status-report.js';
import { coveredKeys } from '../../src/requests/covered.js';
import { runCli, startCli, summaryOf } from '../helpers/cli.js';
import { useGoldenServices } from '../helpers/golden-services.js';
import { RedisServer } from '../helpers/redis-server.js';
import { GOLDEN_NOW, readKeys } from '../helpers/services.js';

const services = useGoldenServices('ops');

const API_OWN_KEY = 'stats_service:get_dashboard_stats:include=summary_period=last_day';

function statusOf(stdout: string): CacheStatus {
  return JSON.parse(stdout) as CacheStatus;
}

describe('status', () => {
  it('covers the 41 keys of the batches', () => {
    expect(coveredKeys().size).toBe(41);
  });

  it('after a refresh: every covered key present with TTL, size, write time and compute time; exit 0', async () => {
    expect((await runCli(['all', '--now', GOLDEN_NOW], services.env)).code).toBe(0);
    await services.redis.set(API_OWN_KEY, '{}', 'EX', 100);
    const run = await runCli(['status', '--json'], services.env);
    expect(run.code).toBe(0);
    const status = statusOf(run.stdout);
    expect(status).toMatchObject({ present: 41, missing: 0 });
    for (const row of status.covered) {
      expect(row.present, row.key).toBe(true);
      expect(row.ttl_seconds).toBeGreaterThan(250);
      expect(row.size_bytes).toBeGreaterThan(10);
      expect(Date.parse(row.written_at!)).not.toBeNaN();
      expect(row.compute_ms).toBeGreaterThanOrEqual(0);
      expect(row.as_of).toBe('2026-06-15T12:34:56.000Z');
    }
    for (const family of FAMILIES) {
      expect(status.families[family]).toMatchObject({ family, successful: expect.any(Number), failed: 0 });
      expect(status.families[family]!.now).toBe('2026-06-15T12:34:56.000Z');
      expect(status.data_states[family]).toMatchObject({ now: '2026-06-15T12:34:56.000Z', valid_until: expect.any(String) });
    }
    expect(Date.parse(status.last_change_seen!)).not.toBeNaN();
    expect(status.extra_keys).toEqual([{ key: API_OWN_KEY, ttl_seconds: expect.any(Number) }]);
  });

  it('exits 1 and names what is missing, so it can serve as a check', async () => {
    expect((await runCli(['users', '--now', GOLDEN_NOW], services.env)).code).toBe(0);
    const run = await runCli(['cache', 'info', '--json'], services.env);
    expect(run.code).toBe(1);
    const status = statusOf(run.stdout);
    expect(status).toMatchObject({ present: 11, missing: 30 });
    expect(status.families.users).not.toBeNull();
    expect(status.families.dashboard).toBeNull();
    const missing = status.covered.filter((row) => !row.present).map((row) => row.key);
    expect(missing).toContain('stats_service:_get_summary_stats:period=all');
    expect(missing.every((key) => !key.includes('get_user_stats'))).toBe(true);
  });

  it('prints a readable table for a terminal', () => {
    const text = formatStatus({
      redis: 'redis://127.0.0.1:6379/0',
      covered: [
        { key: 'stats_service:a', family: 'users', learned: false, present: true, ttl_seconds: 290, size_bytes: 12, written_at: 'w', compute_ms: 5, as_of: 'n' },
        { key: 'stats_service:b', family: 'dashboard', learned: false, present: false, ttl_seconds: null, size_bytes: null, written_at: null, compute_ms: null, as_of: null },
        { key: 'stats_service:c', family: 'executions', learned: true, present: true, ttl_seconds: 100, size_bytes: 9, written_at: 'w', compute_ms: 1, as_of: 'n' },
      ],
      present: 2,
      missing: 1,
      families: { dashboard: null, executions: null, users: null },
      last_change_seen: '2026-06-15T12:35:00.000Z',
      data_states: {
        dashboard: null,
        executions: { fingerprint: 'f', fingerprint_at: 'a', now: '2026-06-15T12:34:56.000Z', valid_until: '2026-06-15T12:37:14.569Z', build: 'b', keys_digest: 'k' },
        users: { fingerprint: 'f', fingerprint_at: 'a', now: '2026-06-15T12:34:57.000Z', valid_until: null, build: 'b', keys_digest: 'k' },
      },
      locks: { dashboard: { held: true, ttl_ms: 41_500 }, executions: { held: false, ttl_ms: null }, users: { held: true, ttl_ms: null } },
      learned: [{ key: 'stats_service:c', family: 'executions', first_seen: 'f', last_seen: 'l', lapses_at: 'x' }],
      extra_keys: [],
      drift: [
        {
          endpoint: 'users',
          build: '0.1.0 (API stats code d77adda)',
          detected_at: 'd',
          key: 'stats_service:c',
          differences: [{ kind: 'structure', path: 'activity_stats.active_last_day', detail: 'x' }],
        },
      ],
      problems: ['stats_refresh:lock:users has no expiry'],
    });
    expect(text).toMatch(/users\s+d\s+0\.1\.0 \(API stats code d77adda\)\s+activity_stats\.active_last_day \(structure\)/);
    expect(text).toMatch(/2 of 3 covered keys present, 1 missing/);
    expect(text).toMatch(/MISSING\s+dashboard/);
    expect(text).toMatch(/ok\s+users\s+290s\s+12B/);
    expect(text).toMatch(/ok\s+executions \(learned\)\s+100s/);
    expect(text).toMatch(/LEARNED\s+FIRST SEEN[^\n]*\n\s*executions\s+f\s+l\s+x\s+c/);
    expect(text).toMatch(/dashboard\s+never\s+-\s+-\s+-\s+held, 42s left/);
    expect(text).toMatch(/executions\s+never\s+-\s+-\s+-\s+free\s+2026-06-15T12:34:56.000Z\s+2026-06-15T12:37:14.569Z/);
    expect(text).toMatch(/users\s+never\s+-\s+-\s+-\s+held, no expiry\s+2026-06-15T12:34:57.000Z\s+no time bound/);
    expect(text).toMatch(/Last change in the data seen at 2026-06-15T12:35:00.000Z/);
    expect(text).toMatch(/PROBLEM: stats_refresh:lock:users has no expiry/);
  });

  it('Redis unreachable: exit 3', async () => {
    const run = await runCli(['status'], { REDIS_URL: 'redis://127.0.0.1:1/0' });
    expect(run.code).toBe(3);
  });
});

describe('clear', () => {
  beforeEach(async () => {
    expect((await runCli(['all', '--now', GOLDEN_NOW], services.env)).code).toBe(0);
  });

  it('--dry-run lists what `summary` matches and deletes nothing', async () => {
    const run = await runCli(['clear', 'summary', '--dry-run'], services.env);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as { matched: number; deleted: number; keys: string[]; match: string };
    expect(summary.match).toBe('stats_service:*summary*');
    const expected = [...(await readKeys(services.redis, 'stats_service:*')).keys()].filter((key) => key.includes('summary')).sort();
    expect(summary.keys).toEqual(expected);
    expect(summary).toMatchObject({ matched: expected.length, deleted: 0 });
    expect((await readKeys(services.redis, 'stats_service:*')).size).toBe(41);
  });

  it('deletes the keys the API would and leaves everything else, metadata included', async () => {
    const before = [...(await readKeys(services.redis, 'stats_service:*')).keys()];
    const run = await runCli(['clear', 'geographic'], services.env);
    expect(run.code).toBe(0);
    const left = [...(await readKeys(services.redis, 'stats_service:*')).keys()];
    expect(left.sort()).toEqual(before.filter((key) => !key.includes('geographic')).sort());
    // 5 section keys and the 7 dashboard payloads that include the section.
    expect(JSON.parse(run.stdout).deleted).toBe(12);
    expect((await readKeys(services.redis, 'stats_refresh:*')).size).toBeGreaterThan(0);
  });

  it('without a pattern clears every stats_service key', async () => {
    const run = await runCli(['cache', 'clear'], services.env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ match: 'stats_service:*', deleted: 41 });
    expect((await readKeys(services.redis, 'stats_service:*')).size).toBe(0);
  });

  it('refuses a pattern the API refuses, unless --any-pattern', async () => {
    const refused = await runCli(['clear', 'period=all'], services.env);
    expect(refused.code).toBe(2);
    expect(refused.messages).toEqual([expect.stringMatching(/not one the API accepts.*--any-pattern/)]);
    expect((await readKeys(services.redis, 'stats_service:*')).size).toBe(41);

    const matching = [...(await readKeys(services.redis, 'stats_service:*period=all*')).keys()];
    const forced = await runCli(['clear', 'period=all', '--any-pattern'], services.env);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout).deleted).toBe(matching.length);
    expect(matching.length).toBe(10);
    expect((await readKeys(services.redis, 'stats_service:*')).size).toBe(41 - 10);
  });
});

describe('warmup', () => {
  it('refreshes every family when the services answer', async () => {
    const run = await runCli(['warmup', '--now', GOLDEN_NOW], services.env);
    expect(run.code).toBe(0);
    expect(summaryOf(run)).toMatchObject({ command: 'warmup', successful: 26, failed: 0 });
    expect((await readKeys(services.redis, 'stats_service:*')).size).toBe(41);
  });

  it('waits for a Redis that starts late, logging each attempt', async () => {
    const late = await RedisServer.start();
    await late.kill();
    const run = startCli(['warmup', '--now', GOLDEN_NOW, '--wait-timeout', '30'], { ...services.env, REDIS_URL: late.url(0) });
    await run.waitForLog('waiting for services');
    // Take the same port again now that the first attempts failed.
    await late.launch();
    try {
      const done = await run.done;
      expect(done.code).toBe(0);
      const attempts = done.logs.filter((log) => log.msg === 'waiting for services');
      expect(attempts.length).toBeGreaterThanOrEqual(1);
      expect(attempts[0]).toMatchObject({ attempt: 1, retry_in_ms: expect.any(Number) });
      expect(done.logs.some((log) => log.msg === 'services ready')).toBe(true);
      expect(summaryOf(done)).toMatchObject({ successful: 26 });
    } finally {
      await late.stop();
    }
  });

  it('gives up after --wait-timeout with a clear message (exit 3)', async () => {
    const run = await runCli(['warmup', '--wait-timeout', '2'], { ...services.env, REDIS_URL: 'redis://127.0.0.1:1/0' });
    expect(run.code).toBe(3);
    expect(run.messages).toEqual([expect.stringMatching(/gave up after \d+ attempts in 2 s: Redis at .* is unreachable/)]);
    expect(run.logs.filter((log) => log.msg === 'waiting for services').length).toBeGreaterThanOrEqual(2);
    expect(run.logs.some((log) => String(log.msg).startsWith('forced exit'))).toBe(false);
  });

  it('--best-effort (for init containers) logs that it gave up and exits 0', async () => {
    const run = await runCli(['warmup', '--wait-timeout', '1', '--best-effort'], { ...services.env, REDIS_URL: 'redis://127.0.0.1:1/0' });
    expect(run.code).toBe(0);
    expect(run.logs.some((log) => log.msg === 'warmup gave up; exiting 0 (--best-effort)' && log.level === 'warn')).toBe(true);
  });
});
