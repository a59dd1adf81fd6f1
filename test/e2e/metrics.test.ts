/**
 * Metrics of one-shot runs pushed to a real Pushgateway (Debian's prometheus-pushgateway, on
 * a free port and an empty persistence file of its own: test/helpers/pushgateway.ts): what a run
 * pushes is what the Pushgateway then serves, grouped by job and family so the families never
 * overwrite each other; a failed run leaves the last success as it was; a Pushgateway that is
 * down or refuses changes no exit code and leaks no credential.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startPushgateway, type TestPushgateway } from '../helpers/pushgateway.js';
import { sampleValue } from '../helpers/schedule.js';
import { GOLDEN_NOW, databaseFromTemplate, freePort, goldenTemplate, type TestDatabase } from '../helpers/services.js';
import { RedisServer } from '../helpers/redis-server.js';

let database: TestDatabase;
let broken: TestDatabase;
let redis: RedisServer;
let gateway: TestPushgateway;
let gatewayUrl: string;


const pushed = () => fetch(`${gatewayUrl}/metrics`).then((response) => response.text());
const family = (name: string) => ({ job: 'stats-refresh', family: name });

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'metrics');
  broken = await databaseFromTemplate(goldenTemplate(), 'metrics_broken');
  await broken.query('ALTER TABLE "user" DROP COLUMN country');
  redis = await RedisServer.start();
  gateway = await startPushgateway();
  gatewayUrl = gateway.url;
});

afterAll(async () => {
  await gateway?.stop();
  await redis?.stop();
  await database?.drop();
  await broken?.drop();
});

describe('Pushgateway', () => {
  it('a run pushes its metrics under job="stats-refresh" and its family; the Pushgateway serves them', async () => {
    const before = Date.now() / 1000;
    const run = await runCli(['refresh', 'dashboard', '--now', GOLDEN_NOW, '--pushgateway-url', gatewayUrl], {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url(1),
    });
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as { duration_ms: number; statements: number };
    const text = await pushed();
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(text, name, { ...family('dashboard'), ...labels });
    expect(value('stats_refresh_last_success_timestamp_seconds')).toBeGreaterThanOrEqual(Math.floor(before));
    expect(value('stats_refresh_last_run_duration_seconds')).toBe(summary.duration_ms / 1000);
    expect(value('stats_refresh_db_statements')).toBe(summary.statements);
    expect(summary.statements).toBeGreaterThan(0);
    expect(value('stats_refresh_configs', { result: 'ok' })).toBe(12);
    expect(value('stats_refresh_configs', { result: 'failed' })).toBe(0);
    expect(value('stats_refresh_keys_written')).toBe(27);
    expect(value('stats_refresh_runs_total', { result: 'ok' })).toBe(1);
    expect(value('push_time_seconds')).toBeGreaterThanOrEqual(Math.floor(before));
    expect(sampleValue(text, 'stats_refresh_keys_written', family('users'))).toBeUndefined();
  });

  it('refresh all (from the environment variable) pushes one group per family, attributing configs and keys', async () => {
    const run = await runCli(['all', '--now', GOLDEN_NOW], {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url(2),
      STATS_REFRESH_PUSHGATEWAY_URL: gatewayUrl,
    });
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as { statements: number };
    const text = await pushed();
    const keys = (name: string) => sampleValue(text, 'stats_refresh_keys_written', family(name));
    // 27 + 8 + 6: the users' geographic section keys are dashboard's in a run of both.
    expect([keys('dashboard'), keys('executions'), keys('users')]).toEqual([27, 8, 6]);
    expect(sampleValue(text, 'stats_refresh_configs', { ...family('users'), result: 'ok' })).toBe(6);
    expect(sampleValue(text, 'stats_refresh_configs', { ...family('executions'), result: 'ok' })).toBe(8);
    // One pass serves every family: the run's statements under each.
    expect(sampleValue(text, 'stats_refresh_db_statements', family('users'))).toBe(summary.statements);
  });

  it('a failing run pushes its failures and leaves the last success timestamp as it was (exit 1)', async () => {
    const lastSuccess = sampleValue(await pushed(), 'stats_refresh_last_success_timestamp_seconds', family('users'));
    expect(lastSuccess).toBeGreaterThan(0);
    const run = await runCli(['refresh', 'users', '--now', GOLDEN_NOW, '--pushgateway-url', gatewayUrl], {
      DATABASE_URL: broken.url,
      REDIS_URL: redis.url(3),
    });
    expect(run.code).toBe(1);
    const text = await pushed();
    expect(sampleValue(text, 'stats_refresh_configs', { ...family('users'), result: 'failed' })).toBe(6);
    expect(sampleValue(text, 'stats_refresh_runs_total', { ...family('users'), result: 'failed' })).toBe(1);
    expect(sampleValue(text, 'stats_refresh_runs_total', { ...family('users'), result: 'ok' })).toBeUndefined();
    expect(sampleValue(text, 'stats_refresh_last_success_timestamp_seconds', family('users'))).toBe(lastSuccess);
  });

  it('a Pushgateway that is down is a warning: the exit code stays, no credential in the logs', async () => {
    const closed = `http://pushuser:s3cr3t-push@127.0.0.1:${await freePort()}/`;
    for (const [db, url, expected] of [
      [4, database.url, 0],
      [5, broken.url, 1],
    ] as const) {
      const run = await runCli(['refresh', 'users', '--now', GOLDEN_NOW, '--pushgateway-url', closed], { DATABASE_URL: url, REDIS_URL: redis.url(db) });
      expect(run.code).toBe(expected);
      const warning = run.logs.find((log) => log.msg === 'metrics not pushed; the run itself is unaffected');
      expect(warning).toMatchObject({ level: 'warn', family: 'users', pushgateway: expect.stringContaining('pushuser:***@127.0.0.1') });
      expect(String(warning?.err)).toMatch(/ECONNREFUSED/);
      expect(run.stderr + run.stdout).not.toContain('s3cr3t-push');
    }
  });

  it('a bad Pushgateway URL is a usage error naming the setting (exit 2)', async () => {
    const run = await runCli(['users'], { DATABASE_URL: database.url, REDIS_URL: redis.url(6), STATS_REFRESH_PUSHGATEWAY_URL: 'ftp://x' });
    expect(run.code).toBe(2);
    expect(run.messages).toEqual([expect.stringMatching(/STATS_REFRESH_PUSHGATEWAY_URL must be a http: or https: URL/)]);
  });
});
