/**
 * src/schedule/health.ts: what /healthz says from the loop's and the families' times.
 */
import { describe, expect, it } from 'vitest';
import { healthOf } from '../../src/schedule/health.js';

describe('health rule', () => {
  const base = {
    now: 1_000_000,
    startedAt: 0,
    stopping: false,
    lastCheckAt: 999_000,
    checkIntervalMs: 5_000,
    intervalsMs: { dashboard: 240_000, executions: 300_000, users: 360_000 },
    lastSuccessAt: { dashboard: 900_000, executions: 800_000, users: 700_000 },
    checkError: null,
    leading: null,
    leaseError: null,
    probeFailure: null,
  };

  it('healthy while the loop runs and every family succeeded within two intervals', () => {
    expect(healthOf(base)).toMatchObject({ healthy: true, loop_alive: true, families: { users: { healthy: true, age_seconds: 300, max_age_seconds: 720 } } });
  });

  it('unhealthy when one family is older than two of its intervals', () => {
    const report = healthOf({ ...base, lastSuccessAt: { ...base.lastSuccessAt, dashboard: 1_000_000 - 480_001 } });
    expect(report).toMatchObject({ healthy: false, families: { dashboard: { healthy: false }, users: { healthy: true } } });
    expect(report.reasons).toEqual(['dashboard: no successful run for 480 s (at most 480 s)']);
  });

  it('unhealthy while the self-healing checks fail, saying why', () => {
    const report = healthOf({ ...base, checkError: 'Redis did not answer within 10 s' });
    expect(report).toMatchObject({ healthy: false, loop_alive: true, reasons: ['self-healing checks failing: Redis did not answer within 10 s'] });
    expect(healthOf(base).reasons).toEqual([]);
  });

  it("counts another process's success (its last run in Redis): the later of the two", () => {
    const stale = { ...base.lastSuccessAt, dashboard: 1_000_000 - 600_000 };
    expect(healthOf({ ...base, lastSuccessAt: stale }).families.dashboard.healthy).toBe(false);
    const elsewhere = { dashboard: 1_000_000 - 60_000, executions: null, users: 100_000 };
    const report = healthOf({ ...base, lastSuccessAt: stale, lastSuccessAnywhereAt: elsewhere });
    expect(report).toMatchObject({ healthy: true, families: { dashboard: { age_seconds: 60 }, users: { age_seconds: 300 } } });
  });

  it('change mode: a follower is healthy whatever its families; failing probes count after 30 s', () => {
    const stale = { ...base, lastSuccessAt: { dashboard: null, executions: null, users: null } };
    expect(healthOf({ ...stale, leading: false })).toMatchObject({ healthy: true, role: 'follower', reasons: [] });
    expect(healthOf({ ...stale, leading: true })).toMatchObject({ healthy: false, role: 'leader' });
    expect(healthOf({ ...base, leading: false, stopping: true })).toMatchObject({ healthy: false, reasons: ['stopping'] });
    // Claims that fail: not a known follower, and unhealthy.
    expect(healthOf({ ...base, leading: false, leaseError: 'Redis did not answer within 10 s' })).toMatchObject({
      healthy: false,
      role: 'follower',
      reasons: ['leader lease not claimed: Redis did not answer within 10 s'],
    });
    expect(healthOf(base)).not.toHaveProperty('role');
    const failing = (forMs: number) => healthOf({ ...base, leading: true, probeFailure: { error: 'connection refused', forMs } });
    expect(failing(30_000).healthy).toBe(true);
    expect(failing(30_001)).toMatchObject({ healthy: false, reasons: ['change probes failing for 30 s: connection refused'] });
  });

  it('counts from the start before a first success; unhealthy when the loop stalls or stops', () => {
    const fresh = { ...base, startedAt: 900_000, lastSuccessAt: { dashboard: null, executions: null, users: null } };
    expect(healthOf(fresh).healthy).toBe(true);
    expect(healthOf({ ...fresh, now: 900_000 + 480_001, lastCheckAt: 900_000 + 480_000 }).families.dashboard.healthy).toBe(false);
    expect(healthOf({ ...base, lastCheckAt: 1_000_000 - 20_001 })).toMatchObject({ healthy: false, loop_alive: false });
    expect(healthOf({ ...base, stopping: true }).healthy).toBe(false);
  });
});
