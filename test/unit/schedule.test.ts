/**
 * schedule's pure parts: its settings, the self-healing bound and the health rule.
 */
import { describe, expect, it } from 'vitest';
import { SCHEDULE_DEFAULTS, loadConfig, loadScheduleConfig } from '../../src/config.js';
import { UsageError } from '../../src/lib/errors.js';
import { longestGapMs } from '../../src/lib/cron.js';
import { healthOf } from '../../src/schedule/health.js';
import { HealBudget } from '../../src/schedule/self-heal.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const MIN = 60_000;

describe('schedule settings', () => {
  it('defaults: the CronJobs\' schedules, their longest gaps, a 5 s check, no metrics server', () => {
    const settings = loadScheduleConfig({}, {}, () => NOW);
    expect(settings.schedules).toEqual({ dashboard: '1-59/4 * * * *', executions: '2-59/5 * * * *', users: '4-59/6 * * * *' });
    expect(settings.intervalsMs).toEqual({ dashboard: 4 * MIN, executions: 5 * MIN, users: 6 * MIN });
    expect(settings).toMatchObject({ checkIntervalMs: 5_000, metricsPort: null, metricsHost: '0.0.0.0' });
  });

  it('flags override the environment; 6-field expressions have seconds', () => {
    const settings = loadScheduleConfig(
      { usersCron: '*/2 * * * * *', checkInterval: '0.5', metricsPort: '9464' },
      { STATS_REFRESH_USERS_CRON: '0 * * * *', STATS_REFRESH_DASHBOARD_CRON: '0 */2 * * *', STATS_REFRESH_METRICS_HOST: '127.0.0.1' },
      () => NOW,
    );
    expect(settings.schedules.users).toBe('*/2 * * * * *');
    expect(settings.intervalsMs.users).toBe(2_000);
    expect(settings.intervalsMs.dashboard).toBe(120 * MIN);
    expect(settings).toMatchObject({ checkIntervalMs: 500, metricsPort: 9464, metricsHost: '127.0.0.1' });
  });

  it.each([
    [{ dashboardCron: '61 * * * *' }, {}, /^--dashboard-cron is not a valid cron expression \("61 \* \* \* \*"\): .*minute/],
    [{}, { STATS_REFRESH_EXECUTIONS_CRON: '1/4 * * * *' }, /^STATS_REFRESH_EXECUTIONS_CRON is not a valid cron expression/],
    [{ usersCron: '* * * * * * *' }, {}, /^--users-cron is not a valid cron expression.*5 or 6 parts/],
    [{ usersCron: '0 0 30 2 *' }, {}, /^--users-cron \("0 0 30 2 \*"\) never fires$/],
    [{ checkInterval: '0' }, {}, /^--check-interval must be a number of seconds from 0.1 to 3600, got "0"$/],
    [{}, { STATS_REFRESH_CHECK_INTERVAL: 'soon' }, /^STATS_REFRESH_CHECK_INTERVAL must be a number of seconds/],
    [{ metricsPort: '70000' }, {}, /^--metrics-port must be a whole number from 0 to 65535/],
  ])('rejects %j %j with a UsageError naming the setting', (flags, env, message) => {
    expect(() => loadScheduleConfig(flags, env, () => NOW)).toThrow(UsageError);
    expect(() => loadScheduleConfig(flags, env, () => NOW)).toThrow(message);
  });

  it('schedule\'s TTL default is 750 s, above the longest default gap plus a slow run; the others keep 300', () => {
    expect(SCHEDULE_DEFAULTS.ttlSeconds).toBeGreaterThan(6 * 60 + 60);
    expect(loadConfig({}, {}, () => NOW, { ttlSeconds: SCHEDULE_DEFAULTS.ttlSeconds }).ttlSeconds).toBe(750);
    expect(loadConfig({}, { STATS_CACHE_TTL: '400' }, () => NOW, { ttlSeconds: 750 }).ttlSeconds).toBe(400);
    expect(loadConfig({}, {}, () => NOW).ttlSeconds).toBe(300);
  });

  it('the Pushgateway URL: optional, http(s) only, its password a secret', () => {
    expect(loadConfig({}, {}, () => NOW).pushgatewayUrl).toBeNull();
    expect(loadConfig({ pushgatewayUrl: 'http://pg:9091' }, {}, () => NOW).pushgatewayUrl).toBe('http://pg:9091');
    expect(() => loadConfig({}, { STATS_REFRESH_PUSHGATEWAY_URL: 'pg:9091' }, () => NOW)).toThrow(/STATS_REFRESH_PUSHGATEWAY_URL must be a http: or https: URL/);
  });

  it('the longest gap covers irregular schedules and hour boundaries', () => {
    expect(longestGapMs('0 9,17 * * *', NOW)).toBe(16 * 60 * MIN);
    expect(longestGapMs('1-59/4 * * * *', NOW)).toBe(4 * MIN);
    expect(longestGapMs('50 * * * *', NOW)).toBe(60 * MIN);
  });
});

describe('self-healing bound', () => {
  const budget = () => new HealBudget({ baseMs: 10_000, quietMs: 30_000, capMs: { dashboard: 240_000, executions: 300_000, users: 2_000 } });

  it('heals a first loss at once, then waits 10, 20, 40 s … while the keys keep vanishing, up to the interval', () => {
    const heal = budget();
    let now = 0;
    const healsAt: number[] = [];
    // Keys lost every 5 s for 20 minutes; a check every second.
    for (; now < 20 * MIN; now += 1_000) {
      const complete = now % 5_000 !== 0 && healsAt.length > 0 && now - healsAt.at(-1)! < 5_000;
      heal.observe('dashboard', complete, now);
      if (!complete && heal.waitMs('dashboard', now) === 0) {
        heal.healed('dashboard', now);
        healsAt.push(now);
      }
    }
    const spacing = healsAt.slice(1).map((at, index) => at - healsAt[index]!);
    expect(spacing.slice(0, 5)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000]);
    expect(new Set(spacing.slice(5))).toEqual(new Set([240_000])); // capped at the dashboard's interval
  });

  it('a loss after the keys stayed present for the quiet time is healed at once again', () => {
    const heal = budget();
    heal.observe('dashboard', false, 0);
    expect(heal.waitMs('dashboard', 0)).toBe(0);
    heal.healed('dashboard', 0);
    heal.observe('dashboard', true, 1_000);
    heal.observe('dashboard', false, 3_000); // lost again after 2 s
    expect(heal.waitMs('dashboard', 3_000)).toBe(7_000);
    heal.healed('dashboard', 10_000);
    heal.observe('dashboard', true, 11_000);
    heal.observe('dashboard', false, 60_000); // present for 49 s: quiet
    expect(heal.waitMs('dashboard', 60_000)).toBe(0);
  });

  it('never waits longer than the family\'s interval, whatever the base', () => {
    const heal = budget();
    heal.observe('users', false, 0);
    heal.healed('users', 0);
    heal.observe('users', false, 1_000);
    expect(heal.waitMs('users', 1_000)).toBe(1_000); // users' cap here: 2 s, below the 10 s base
  });

  it('refreshes that fail (keys never come back) back off too; families are independent', () => {
    const heal = budget();
    heal.observe('executions', false, 0);
    heal.healed('executions', 0);
    heal.observe('executions', false, 5_000);
    expect(heal.waitMs('executions', 5_000)).toBe(5_000);
    heal.observe('dashboard', false, 5_000);
    expect(heal.waitMs('dashboard', 5_000)).toBe(0);
  });
});

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

  it('counts from the start before a first success; unhealthy when the loop stalls or stops', () => {
    const fresh = { ...base, startedAt: 900_000, lastSuccessAt: { dashboard: null, executions: null, users: null } };
    expect(healthOf(fresh).healthy).toBe(true);
    expect(healthOf({ ...fresh, now: 900_000 + 480_001, lastCheckAt: 900_000 + 480_000 }).families.dashboard.healthy).toBe(false);
    expect(healthOf({ ...base, lastCheckAt: 1_000_000 - 20_001 })).toMatchObject({ healthy: false, loop_alive: false });
    expect(healthOf({ ...base, stopping: true }).healthy).toBe(false);
  });
});
