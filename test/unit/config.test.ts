import { describe, expect, it, vi } from 'vitest';
import { DEFAULTS, type FlagValues, loadConfig, loadScheduleConfig, SCHEDULE_DEFAULTS, secretsOf } from '../../src/config.js';
import { UsageError } from '../../src/lib/errors.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const clock = () => NOW;
const MIN = 60_000;
type Env = Record<string, string | undefined>;

/** Runs loadConfig, requires a UsageError, and returns its message. */
function usageMessage(flags: FlagValues, env: Env): string {
  let caught: unknown;
  try {
    loadConfig(flags, env, clock);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(UsageError);
  expect((caught as UsageError).exitCode).toBe(2);
  return (caught as UsageError).message;
}

describe('loadConfig defaults', () => {
  it('uses the defaults with no flags and no environment', () => {
    expect(loadConfig({}, {}, clock)).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      databaseTls: { mode: 'disable', rootCert: null, negotiation: null },
      redisUrl: 'redis://127.0.0.1:6379/0',
      redisTlsCa: null,
      ttlSeconds: 300,
      logLevel: 'info',
      logFormat: null,
      concurrency: 2,
      now: NOW,
      dryRun: false,
      force: false,
      rollbarToken: null,
      rollbarEndpoint: null,
      environment: 'production',
      statementTimeoutMs: 60_000,
      lockTtlMs: 60_000,
      waitLock: false,
      waitTimeoutMs: 120_000,
      gracePeriodMs: 20_000,
      batchFile: null,
      batchFileSource: '--batch-file',
      learn: true,
      learnWindowMs: 86_400_000,
      learnMax: 50,
      pushgatewayUrl: null,
      onDrift: 'yield',
      apiCacheTtlSeconds: 300,
    });
  });

  it('exports the same defaults', () => {
    expect(DEFAULTS).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      redisUrl: 'redis://127.0.0.1:6379/0',
      ttlSeconds: 300,
      logLevel: 'info',
      concurrency: 2,
      environment: 'production',
      statementTimeoutSeconds: 60,
      lockTtlSeconds: 60,
      waitTimeoutSeconds: 120,
      gracePeriodSeconds: 20,
      learnWindowMs: 86_400_000,
      learnMax: 50,
      apiCacheTtlSeconds: 300,
      onDrift: 'yield',
    });
  });

  it('returns a frozen config', () => {
    expect(Object.isFrozen(loadConfig({}, {}, clock))).toBe(true);
  });

  it('reads now from the clock when --now is absent', () => {
    const tick = vi.fn(() => new Date('2030-01-01T00:00:00Z'));
    expect(loadConfig({}, {}, tick).now.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(tick).toHaveBeenCalledTimes(1);
  });

  it('defaults the clock to the current time', () => {
    const before = Date.now();
    const now = loadConfig({}, {}).now.getTime();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('treats empty variables as unset', () => {
    const config = loadConfig({}, { DATABASE_URL: '', REDIS_URL: '', STATS_CACHE_TTL: '', LOG_LEVEL: '', STATS_REFRESH_CONCURRENCY: '' }, clock);
    expect(config.databaseUrl).toBe(DEFAULTS.databaseUrl);
    expect(config.redisUrl).toBe(DEFAULTS.redisUrl);
    expect(config.ttlSeconds).toBe(300);
    expect(config.logLevel).toBe('info');
    expect(config.concurrency).toBe(2);
  });
});

describe('the drift settings', () => {
  it('--on-drift takes yield or warn; STATS_API_CACHE_TTL whole seconds', () => {
    expect(loadConfig({ onDrift: 'WARN' }, {}, clock).onDrift).toBe('warn');
    expect(() => loadConfig({ onDrift: 'ignore' }, {}, clock)).toThrow('--on-drift must be one of yield, warn, got "ignore"');
    expect(() => loadConfig({}, { STATS_API_CACHE_TTL: '5m' }, clock)).toThrow(/STATS_API_CACHE_TTL must be a whole number/);
  });
});

describe('loadConfig precedence', () => {
  const env: Env = {
    DATABASE_URL: 'postgresql://env@db.example:5433/stats',
    REDIS_URL: 'rediss://env.example:6380/2',
    STATS_CACHE_TTL: '600',
    LOG_LEVEL: 'debug',
    LOG_FORMAT: 'pretty',
    STATS_REFRESH_CONCURRENCY: '5',
    ROLLBAR_ACCESS_TOKEN: ' tok-123456 ',
    ROLLBAR_ENDPOINT: 'https://rollbar.example/api/1/',
    ROLLBAR_ENVIRONMENT: 'staging',
    STATS_REFRESH_STATEMENT_TIMEOUT: '30',
    STATS_REFRESH_LOCK_TTL: '90',
    STATS_REFRESH_WAIT_TIMEOUT: '10',
    STATS_REFRESH_GRACE_PERIOD: '0',
    STATS_REFRESH_BATCH_FILE: '/config/requests.txt',
    STATS_REFRESH_LEARN_WINDOW: '90m',
    STATS_REFRESH_LEARN_MAX: '7',
    STATS_REFRESH_PUSHGATEWAY_URL: 'http://push.example:9091',
    STATS_REFRESH_ON_DRIFT: 'warn',
    STATS_API_CACHE_TTL: '600',
  };

  it('lets the environment override the defaults', () => {
    expect(loadConfig({}, env, clock)).toEqual({
      databaseUrl: 'postgresql://env@db.example:5433/stats',
      databaseTls: { mode: 'disable', rootCert: null, negotiation: null },
      redisUrl: 'rediss://env.example:6380/2',
      redisTlsCa: null,
      ttlSeconds: 600,
      logLevel: 'debug',
      logFormat: 'pretty',
      concurrency: 5,
      now: NOW,
      dryRun: false,
      force: false,
      rollbarToken: 'tok-123456',
      rollbarEndpoint: 'https://rollbar.example/api/1/',
      environment: 'staging',
      statementTimeoutMs: 30_000,
      lockTtlMs: 90_000,
      waitLock: false,
      waitTimeoutMs: 10_000,
      gracePeriodMs: 0,
      batchFile: '/config/requests.txt',
      batchFileSource: 'STATS_REFRESH_BATCH_FILE',
      learn: true,
      learnWindowMs: 90 * 60_000,
      learnMax: 7,
      pushgatewayUrl: 'http://push.example:9091',
      onDrift: 'warn',
      apiCacheTtlSeconds: 600,
    });
  });

  it('lets flags override the environment', () => {
    const config = loadConfig(
      {
        databaseUrl: 'postgres://flag@db2/x',
        redisUrl: 'redis://flag:6379/1',
        ttl: '60',
        logLevel: 'warn',
        json: true,
        concurrency: '1',
        now: '2026-01-02T03:04:05Z',
        dryRun: true,
        statementTimeout: '5',
        lockTtl: '7',
        waitLock: true,
        waitTimeout: '11',
        gracePeriod: '13',
        batchFile: 'mine.txt',
        learn: false,
        learnWindow: '2d',
        learnMax: '0',
      },
      env,
      clock,
    );
    expect(config).toMatchObject({
      statementTimeoutMs: 5_000,
      lockTtlMs: 7_000,
      waitLock: true,
      waitTimeoutMs: 11_000,
      gracePeriodMs: 13_000,
      batchFile: 'mine.txt',
      batchFileSource: '--batch-file',
      learn: false,
      learnWindowMs: 2 * 86_400_000,
      learnMax: 0,
    });
    expect(config.databaseUrl).toBe('postgres://flag@db2/x');
    expect(config.redisUrl).toBe('redis://flag:6379/1');
    expect(config.ttlSeconds).toBe(60);
    expect(config.logLevel).toBe('warn');
    expect(config.logFormat).toBe('json');
    expect(config.concurrency).toBe(1);
    expect(config.now.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(config.dryRun).toBe(true);
  });

  it('reads learn windows as durations (a bare number is hours) and refuses others', () => {
    expect(loadConfig({ learnWindow: '36' }, {}, clock).learnWindowMs).toBe(36 * 3_600_000);
    expect(loadConfig({ learnWindow: '45s' }, {}, clock).learnWindowMs).toBe(45_000);
    for (const bad of ['0h', '1w', '-1h', 'soon', '367d']) {
      expect(() => loadConfig({ learnWindow: bad }, {}, clock), bad).toThrow(/--learn-window must be a duration such as 90m, 24h or 7d/);
    }
    expect(loadConfig({}, { STATS_REFRESH_LEARN: 'off' }, clock).learn).toBe(false);
  });

  it('reads STATS_REFRESH_LEARN as a switch in its usual spellings, and refuses anything else', () => {
    for (const off of ['off', 'false', 'FALSE', 'no', '0', ' Off ']) expect(loadConfig({}, { STATS_REFRESH_LEARN: off }, clock).learn, off).toBe(false);
    for (const on of ['on', 'true', 'yes', '1']) expect(loadConfig({}, { STATS_REFRESH_LEARN: on }, clock).learn, on).toBe(true);
    expect(() => loadConfig({}, { STATS_REFRESH_LEARN: 'disabled' }, clock)).toThrow('STATS_REFRESH_LEARN must be on or off');
    // --no-learn wins over the variable.
    expect(loadConfig({ learn: false }, { STATS_REFRESH_LEARN: 'on' }, clock).learn).toBe(false);
  });

  it('computes even when nothing changed with --force or STATS_REFRESH_FORCE', () => {
    expect(loadConfig({}, {}, clock).force).toBe(false);
    expect(loadConfig({ force: true }, {}, clock).force).toBe(true);
    expect(loadConfig({}, { STATS_REFRESH_FORCE: 'yes' }, clock).force).toBe(true);
    expect(loadConfig({}, { STATS_REFRESH_FORCE: 'off' }, clock).force).toBe(false);
    expect(() => loadConfig({}, { STATS_REFRESH_FORCE: 'always' }, clock)).toThrow('STATS_REFRESH_FORCE must be on or off');
  });

  it('reads a Redis database only as a whole number, in the path or as db=', () => {
    expect(loadConfig({ redisUrl: 'redis://h:6379/12' }, {}, clock).redisUrl).toBe('redis://h:6379/12');
    expect(loadConfig({ redisUrl: 'redis://h:6379?db=3&password=x' }, {}, clock).redisUrl).toBe('redis://h:6379?db=3&password=x');
    for (const bad of ['redis://h/abc', 'redis://h/1.5', 'redis://h/0/1', 'redis://h?db=x', 'redis://h/%2D1']) {
      expect(() => loadConfig({ redisUrl: bad }, {}, clock), bad).toThrow(/^--redis-url: the database must be a whole number/);
    }
    expect(() => loadConfig({ redisUrl: 'redis://h/0?connectTimeout=0' }, {}, clock)).toThrow('--redis-url: the query parameter "connectTimeout" is not supported');
  });

  it('refuses a stray % in a URL, naming the part', () => {
    expect(() => loadConfig({ databaseUrl: 'postgres://u:a%ZZb@h/db' }, {}, clock)).toThrow('--database-url: the password holds a % that does not start an escape');
    expect(() => loadConfig({ databaseUrl: 'postgres://u@h/d%b' }, {}, clock)).toThrow('--database-url: the path holds a %');
    expect(() => loadConfig({ redisUrl: 'redis://us%r:x@h/0' }, {}, clock)).toThrow('--redis-url: the user name holds a %');
  });

  it('ignores an environment value that a flag overrides', () => {
    expect(loadConfig({ ttl: '60' }, { STATS_CACHE_TTL: 'abc' }, clock).ttlSeconds).toBe(60);
  });

  it('does not consult the clock when --now is given', () => {
    const tick = vi.fn(() => NOW);
    loadConfig({ now: '2026-06-15T00:00:00+02:00' }, {}, tick);
    expect(tick).not.toHaveBeenCalled();
  });

  it('reads --now with an offset', () => {
    expect(loadConfig({ now: '2026-06-15T12:34:56.123+02:00' }, {}, clock).now.toISOString()).toBe(
      '2026-06-15T10:34:56.123Z',
    );
  });

  it('normalises the log level case and trims numbers', () => {
    expect(loadConfig({}, { LOG_LEVEL: ' DEBUG ' }, clock).logLevel).toBe('debug');
    expect(loadConfig({ ttl: ' 120 ' }, {}, clock).ttlSeconds).toBe(120);
  });

  it('reads LOG_FORMAT as json or pretty in any case; --json asks for json; unset follows the terminal', () => {
    expect(loadConfig({}, { LOG_FORMAT: ' Pretty ' }, clock).logFormat).toBe('pretty');
    expect(loadConfig({}, { LOG_FORMAT: 'JSON' }, clock).logFormat).toBe('json');
    expect(loadConfig({}, { LOG_FORMAT: '' }, clock).logFormat).toBeNull();
    expect(loadConfig({ json: false }, {}, clock).logFormat).toBeNull();
    expect(loadConfig({ json: true }, {}, clock).logFormat).toBe('json');
    expect(usageMessage({}, { LOG_FORMAT: 'text' })).toBe('LOG_FORMAT must be one of json, pretty, got "text"');
  });

  it('accepts every log level', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      expect(loadConfig({ logLevel: level }, {}, clock).logLevel).toBe(level);
    }
  });

  it('accepts the bounds of ttl and concurrency', () => {
    expect(loadConfig({ ttl: '1', concurrency: '1' }, {}, clock)).toMatchObject({ ttlSeconds: 1, concurrency: 1 });
    expect(loadConfig({ ttl: '604800', concurrency: '32' }, {}, clock)).toMatchObject({ ttlSeconds: 604800, concurrency: 32 });
  });

  it('sets dryRun only for a true switch', () => {
    expect(loadConfig({ dryRun: false }, {}, clock).dryRun).toBe(false);
    expect(loadConfig({ dryRun: true }, {}, clock).dryRun).toBe(true);
  });

  it('treats blank Rollbar settings as absent', () => {
    const config = loadConfig({}, { ROLLBAR_ACCESS_TOKEN: '   ', ROLLBAR_ENDPOINT: '', ROLLBAR_ENVIRONMENT: ' ' }, clock);
    expect(config.rollbarToken).toBeNull();
    expect(config.rollbarEndpoint).toBeNull();
    expect(config.environment).toBe('production');
  });
});

describe('loadConfig errors', () => {
  const cases: Array<[string, FlagValues, Env, string]> = [
    ['STATS_CACHE_TTL=abc', {}, { STATS_CACHE_TTL: 'abc' }, 'STATS_CACHE_TTL'],
    ['--ttl 0', { ttl: '0' }, {}, '--ttl'],
    ['--ttl 1.5', { ttl: '1.5' }, {}, '--ttl'],
    ['--ttl -5', { ttl: '-5' }, {}, '--ttl'],
    ['--ttl 1e3', { ttl: '1e3' }, {}, '--ttl'],
    ['--ttl ""', { ttl: '' }, {}, '--ttl'],
    ['--ttl 604801', { ttl: '604801' }, {}, '--ttl'],
    ['--concurrency 0', { concurrency: '0' }, {}, '--concurrency'],
    ['--concurrency 33', { concurrency: '33' }, {}, '--concurrency'],
    ['STATS_REFRESH_CONCURRENCY=many', {}, { STATS_REFRESH_CONCURRENCY: 'many' }, 'STATS_REFRESH_CONCURRENCY'],
    ['LOG_LEVEL=loud', {}, { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    ['--log-level verbose', { logLevel: 'verbose' }, {}, '--log-level'],
    ['LOG_FORMAT=text', {}, { LOG_FORMAT: 'text' }, 'LOG_FORMAT'],
    ['DATABASE_URL=not-a-url', {}, { DATABASE_URL: 'not-a-url' }, 'DATABASE_URL'],
    ['DATABASE_URL=mysql://x', {}, { DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    ['--database-url redis://x', { databaseUrl: 'redis://x' }, {}, '--database-url'],
    ['REDIS_URL=http://x', {}, { REDIS_URL: 'http://x' }, 'REDIS_URL'],
    ['REDIS_URL=postgres://x', {}, { REDIS_URL: 'postgres://x' }, 'REDIS_URL'],
    ['--redis-url not a url', { redisUrl: 'not a url' }, {}, '--redis-url'],
    ['--now yesterday', { now: 'yesterday' }, {}, '--now'],
    ['--now without a zone', { now: '2026-06-15T12:34:56' }, {}, '--now'],
    ['--now ""', { now: '' }, {}, '--now'],
  ];
  it.each(cases)('%s throws a UsageError naming %3$s', (_label, flags, env, name) => {
    expect(usageMessage(flags, env)).toContain(name);
  });

  it('states what is expected', () => {
    expect(usageMessage({ ttl: '0' }, {})).toBe('--ttl must be a whole number from 1 to 604800, got "0"');
    expect(usageMessage({}, { DATABASE_URL: 'mysql://x' })).toBe(
      'DATABASE_URL must be a postgres: or postgresql: URL for PostgreSQL, got mysql:',
    );
    expect(usageMessage({ now: 'yesterday' }, {})).toContain('e.g. 2026-06-15T12:34:56Z');
  });

  it('names the flag, not the variable, when the flag supplied the bad value', () => {
    const message = usageMessage({ ttl: 'x' }, { STATS_CACHE_TTL: '60' });
    expect(message).toContain('--ttl');
    expect(message).not.toContain('STATS_CACHE_TTL');
  });
});

describe('loadConfig never leaks a URL password in an error', () => {
  const SECRET = 's3cretpw';
  const DB = `postgres://u:${SECRET}@host/db`;
  const REDIS = `redis://:${SECRET}@h:1/0`;
  const cases: Array<[string, FlagValues, Env]> = [
    ['bad --ttl with a DATABASE_URL password', { ttl: '0' }, { DATABASE_URL: DB }],
    ['bad --ttl with a --database-url password', { ttl: 'x', databaseUrl: DB }, {}],
    ['bad --concurrency with a REDIS_URL password', { concurrency: '0' }, { REDIS_URL: REDIS }],
    ['bad --now with both passwords', { now: 'soon' }, { DATABASE_URL: DB, REDIS_URL: REDIS }],
    ['DATABASE_URL with mysql scheme', {}, { DATABASE_URL: `mysql://u:${SECRET}@host/db` }],
    ['DATABASE_URL without a scheme', {}, { DATABASE_URL: `u:${SECRET}@host/db` }],
    ['DATABASE_URL missing the colon', {}, { DATABASE_URL: `postgres//u:${SECRET}@host/db` }],
    ['DATABASE_URL with a space', {}, { DATABASE_URL: `postgres://u:${SECRET}@ho st/db` }],
    ['REDIS_URL with http scheme', {}, { REDIS_URL: `http://:${SECRET}@h:1/0` }],
    ['REDIS_URL with postgres scheme', {}, { REDIS_URL: `postgres://:${SECRET}@h:1/0` }],
    ['REDIS_URL with a misspelt scheme', {}, { REDIS_URL: `reddis://:${SECRET}@h:1/0` }],
    ['REDIS_URL missing the colon', {}, { REDIS_URL: `redis//:${SECRET}@h:1/0` }],
    ['REDIS_URL without a scheme', {}, { REDIS_URL: `:${SECRET}@h:1/0` }],
    ['--redis-url with a bad port', { redisUrl: `redis://:${SECRET}@h:99999/0` }, {}],
    ['--redis-url with https scheme', { redisUrl: `https://:${SECRET}@h:1/0` }, {}],
  ];
  it.each(cases)('%s', (_label, flags, env) => {
    expect(usageMessage(flags, env)).not.toContain(SECRET);
  });
});

describe('secretsOf', () => {
  it('returns the URL passwords (the Pushgateway\'s too) and the Rollbar token', () => {
    const config = loadConfig(
      {},
      {
        DATABASE_URL: 'postgres://u:s3cretpw@host/db',
        REDIS_URL: 'redis://:r3dispass@h:1/0',
        ROLLBAR_ACCESS_TOKEN: 'rollbar-token-abc',
        STATS_REFRESH_PUSHGATEWAY_URL: 'https://push:pushpass1@push.example',
      },
      clock,
    );
    const secrets = secretsOf(config);
    expect(new Set(secrets)).toEqual(new Set(['s3cretpw', 'r3dispass', 'pushpass1', 'rollbar-token-abc']));
  });

  it('returns both the decoded and the encoded form of a percent-encoded password', () => {
    const config = loadConfig({ databaseUrl: 'postgres://u:p%40ss%2Fword@host/db' }, {}, clock);
    const secrets = secretsOf(config);
    expect(secrets).toContain('p@ss/word');
    expect(secrets).toContain('p%40ss%2Fword');
  });

  it('returns credentials carried in query parameters', () => {
    const config = loadConfig({ redisUrl: 'redis://h:1/0?password=qpass123', databaseUrl: 'postgres://u@h/db?password=pgq456' }, {}, clock);
    expect(secretsOf(config)).toEqual(expect.arrayContaining(['qpass123', 'pgq456']));
  });

  it('returns nothing without passwords or token', () => {
    expect(secretsOf(loadConfig({}, {}, clock))).toEqual([]);
    expect(secretsOf(loadConfig({ databaseUrl: 'postgres://user@host/db' }, {}, clock))).toEqual([]);
  });
});

describe('schedule settings', () => {
  it('defaults: change mode, a probe a second, 300 s staleness, the default budget (37 cron runs an hour), a 5 s check, no metrics server', () => {
    const settings = loadScheduleConfig({}, {}, () => NOW);
    expect(settings).toMatchObject({ mode: 'change', probeIntervalMs: 1_000, quietProbeIntervalMs: 3_000, maxStalenessMs: 300_000, dbBudgetSecondsPerHour: null, cronRunsPerHour: 37, ignored: [] });
    // The longest gap between runs, for health and the TTL warning: --max-staleness.
    expect(settings.intervalsMs).toEqual({ dashboard: 5 * MIN, executions: 5 * MIN, users: 5 * MIN });
    expect(settings).toMatchObject({ checkIntervalMs: 5_000, metricsPort: null, metricsHost: '0.0.0.0' });
  });

  it('change mode: its flags and variables; the cron settings are named as ignored, not read', () => {
    const settings = loadScheduleConfig(
      { probeInterval: '0.5', maxStaleness: '60', dbBudget: '12.5', usersCron: 'not even cron' },
      { STATS_REFRESH_DASHBOARD_CRON: '0 * * * *', STATS_REFRESH_PROBE_INTERVAL: '3' },
      () => NOW,
    );
    expect(settings).toMatchObject({ mode: 'change', probeIntervalMs: 500, maxStalenessMs: 60_000, dbBudgetSecondsPerHour: 12.5 });
    expect(settings.ignored).toEqual(['STATS_REFRESH_DASHBOARD_CRON', '--users-cron']);
    expect(loadScheduleConfig({}, { STATS_REFRESH_SCHEDULE_MODE: 'cron' }, () => NOW).mode).toBe('cron');
    expect(loadScheduleConfig({ mode: 'cron', maxStaleness: '10' }, {}, () => NOW).intervalsMs.dashboard).toBe(4 * MIN);
  });

  it('the quiet probe interval: given, or the default kept between --probe-interval and --max-staleness', () => {
    const quiet = (flags: Record<string, string>, env: Record<string, string> = {}) => loadScheduleConfig(flags, env, () => NOW).quietProbeIntervalMs;
    expect(quiet({ quietProbeInterval: '10' })).toBe(10_000);
    expect(quiet({}, { STATS_REFRESH_QUIET_PROBE_INTERVAL: '1.5' })).toBe(1_500);
    expect(quiet({ probeInterval: '5' })).toBe(5_000);
    expect(quiet({ probeInterval: '0.5', maxStaleness: '2' })).toBe(2_000);
    expect(quiet({ probeInterval: '2', quietProbeInterval: '2' })).toBe(2_000);
  });

  it('cron mode: the CronJobs\' schedules and their longest gaps', () => {
    const settings = loadScheduleConfig({ mode: 'cron' }, {}, () => NOW);
    expect(settings.schedules).toEqual({ dashboard: '1-59/4 * * * *', executions: '2-59/5 * * * *', users: '4-59/6 * * * *' });
    expect(settings.intervalsMs).toEqual({ dashboard: 4 * MIN, executions: 5 * MIN, users: 6 * MIN });
    expect(settings).toMatchObject({ checkIntervalMs: 5_000, metricsPort: null, metricsHost: '0.0.0.0' });
  });

  it('flags override the environment; 6-field expressions have seconds', () => {
    const settings = loadScheduleConfig(
      { mode: 'cron', usersCron: '*/2 * * * * *', checkInterval: '0.5', metricsPort: '9464' },
      { STATS_REFRESH_USERS_CRON: '0 * * * *', STATS_REFRESH_DASHBOARD_CRON: '0 */2 * * *', STATS_REFRESH_METRICS_HOST: '127.0.0.1' },
      () => NOW,
    );
    expect(settings.schedules.users).toBe('*/2 * * * * *');
    expect(settings.intervalsMs.users).toBe(2_000);
    expect(settings.intervalsMs.dashboard).toBe(120 * MIN);
    expect(settings).toMatchObject({ checkIntervalMs: 500, metricsPort: 9464, metricsHost: '127.0.0.1' });
  });

  it.each([
    [{ mode: 'cron', dashboardCron: '61 * * * *' }, {}, /^--dashboard-cron is not a valid cron expression \("61 \* \* \* \*"\): .*minute/],
    [{}, { STATS_REFRESH_SCHEDULE_MODE: 'cron', STATS_REFRESH_EXECUTIONS_CRON: '1/4 * * * *' }, /^STATS_REFRESH_EXECUTIONS_CRON is not a valid cron expression/],
    [{ mode: 'cron', usersCron: '* * * * * * *' }, {}, /^--users-cron is not a valid cron expression.*5 or 6 parts/],
    [{ mode: 'cron', usersCron: '0 0 30 2 *' }, {}, /^--users-cron \("0 0 30 2 \*"\) never fires$/],
    [{ mode: 'adaptive' }, {}, /^--mode must be one of change, cron, got "adaptive"$/],
    [{}, { STATS_REFRESH_SCHEDULE_MODE: 'x' }, /^STATS_REFRESH_SCHEDULE_MODE must be one of change, cron/],
    [{ probeInterval: '0' }, {}, /^--probe-interval must be a number of seconds from 0.1 to 3600, got "0"$/],
    [{ probeInterval: '-1' }, {}, /^--probe-interval must be a number of seconds from 0.1 to 3600, got "-1"$/],
    [{ probeInterval: '3601' }, {}, /^--probe-interval must be a number of seconds from 0.1 to 3600, got "3601"$/],
    [{ dbBudget: '0' }, {}, /^--db-budget must be a number of seconds from 0.001 to 3600, got "0"$/],
    [{ dbBudget: '-5' }, {}, /^--db-budget must be a number of seconds from 0.001 to 3600, got "-5"$/],
    [{ maxStaleness: '2', probeInterval: '5' }, {}, /^--max-staleness \(2 s\) must not be below the probe interval \(5 s\)$/],
    [{}, { STATS_REFRESH_MAX_STALENESS: '0.5' }, /^STATS_REFRESH_MAX_STALENESS \(0.5 s\) must not be below the probe interval \(1 s\)$/],
    [{ quietProbeInterval: '0' }, {}, /^--quiet-probe-interval must be a number of seconds from 0.1 to 3600, got "0"$/],
    [{ quietProbeInterval: '0.5' }, {}, /^--quiet-probe-interval \(0.5 s\) must not be below the probe interval \(1 s\)$/],
    [{}, { STATS_REFRESH_QUIET_PROBE_INTERVAL: '600' }, /^STATS_REFRESH_QUIET_PROBE_INTERVAL \(600 s\) must not be above --max-staleness \(300 s\)$/],
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
});
