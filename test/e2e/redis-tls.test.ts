/**
 * Redis over TLS, against a private redis-server with no plaintext port (`--port 0`) and
 * a certificate from a test CA: a full refresh (entries, metadata, locks), `status` and
 * `clear` all go through rediss://, the CA comes from REDIS_TLS_CA_FILE or
 * --redis-tls-ca-file, and a certificate that does not verify is one line and exit 3.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_PREFIX } from '../../src/io/lock.js';
import { KEY_META, lastRunKey } from '../../src/io/metadata.js';
import { runCli, summaryOf, type CliRun } from '../helpers/cli.js';
import { GOLDEN_KEYS, goldenValue } from '../helpers/golden.js';
import { GOLDEN_NOW, databaseFromTemplate, goldenTemplate, readKeys, type TestDatabase } from '../helpers/services.js';
import { type TestCertificates, type TlsRedis, makeCertificates, startTlsRedis } from '../helpers/tls.js';

let certs: TestCertificates;
let server: TlsRedis;
let database: TestDatabase;
let redis: Redis;

beforeAll(async () => {
  certs = makeCertificates();
  [server, database] = await Promise.all([startTlsRedis(certs), databaseFromTemplate(goldenTemplate(), 'redis_tls')]);
  redis = await server.client();
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  await database?.drop();
  certs?.remove();
});

function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { DATABASE_URL: database.url, REDIS_URL: server.url(0), REDIS_TLS_CA_FILE: certs.caFile, ...env });
}

function expectOnlyJsonLogs(run: CliRun): void {
  expect(run.messages, run.stderr).toEqual([]);
  expect(run.stderr).not.toMatch(/\[WARN\]|Warning:/);
}

/** Exit 3, one line about Redis, nothing on stdout. */
function expectUnreachable(run: CliRun, cause: RegExp): void {
  expect(run.code, run.stderr).toBe(3);
  expect(run.messages).toHaveLength(1);
  expect(run.messages[0]).toMatch(/^stats-refresh: Redis at rediss?:\/\/[^ ]+ is unreachable \(/);
  expect(run.messages[0]).toMatch(cause);
  expect(run.stdout).toBe('');
}

describe('refresh all, status and clear over rediss://', () => {
  let refresh: CliRun;

  beforeAll(async () => {
    await redis.flushdb();
    refresh = await cli(['refresh', 'all', '--now', GOLDEN_NOW]);
  });

  it('refreshes every config, logging JSON only', () => {
    expectOnlyJsonLogs(refresh);
    expect(refresh.code, refresh.stderr).toBe(0);
    expect(summaryOf(refresh)).toMatchObject({ total_refreshed: 26, successful: 26, failed: 0 });
  });

  it('writes the golden entries to the TLS server', async () => {
    const written = await readKeys(redis, 'stats_service:*');
    expect([...written.keys()].sort()).toEqual([...GOLDEN_KEYS]);
    for (const key of GOLDEN_KEYS) expect(JSON.parse(written.get(key)!), key).toStrictEqual(goldenValue(key));
  });

  it('writes the metadata there too, and releases its locks', async () => {
    expect(Object.keys(await redis.hgetall(KEY_META)).sort()).toEqual([...GOLDEN_KEYS]);
    for (const family of ['dashboard', 'executions', 'users'] as const) {
      expect(JSON.parse((await redis.get(lastRunKey(family))) ?? 'null'), family).toMatchObject({ family, failed: 0 });
    }
    expect(await redis.keys(`${LOCK_PREFIX}*`)).toEqual([]);
  });

  it('takes the family lock through TLS: a lock held there makes the family skip', async () => {
    await redis.set(`${LOCK_PREFIX}users`, 'someone else', 'PX', 60_000);
    try {
      const run = await cli(['refresh', 'users', '--now', GOLDEN_NOW]);
      expectOnlyJsonLogs(run);
      expect(run.code, run.stderr).toBe(0);
      expect(summaryOf(run)).toMatchObject({ total_refreshed: 0, skipped: ['users'] });
    } finally {
      await redis.del(`${LOCK_PREFIX}users`);
    }
  });

  it('status reads every covered key over TLS', async () => {
    const run = await cli(['status', '--json']);
    expectOnlyJsonLogs(run);
    expect(run.code, run.stderr).toBe(0);
    const status = JSON.parse(run.stdout);
    expect(status).toMatchObject({ redis: server.url(0), missing: 0 });
    expect(status.present).toBeGreaterThan(0);
  });

  it('clear deletes over TLS, with the CA from --redis-tls-ca-file', async () => {
    const before = (await redis.keys('stats_service:*summary*')).length;
    expect(before).toBeGreaterThan(0);
    const run = await runCli(['clear', 'summary', '--redis-tls-ca-file', certs.caFile, '--redis-url', server.url(0)]);
    expectOnlyJsonLogs(run);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ matched: before, deleted: before });
    expect(await redis.keys('stats_service:*summary*')).toEqual([]);
  });

  it('checks the certificate by its DNS name as well (localhost, sent as SNI)', async () => {
    const run = await cli(['status', '--json'], { REDIS_URL: server.url(0, 'localhost') });
    expectOnlyJsonLogs(run);
    expect(run.code).toBe(1); // clear above removed covered keys
    expect(JSON.parse(run.stdout).missing).toBeGreaterThan(0);
  });
});

describe('a certificate that does not verify', () => {
  it('the wrong CA is exit 3, one line naming REDIS_TLS_CA_FILE, nothing written', async () => {
    await redis.flushdb();
    const run = await cli(['refresh', 'all', '--now', GOLDEN_NOW], { REDIS_TLS_CA_FILE: certs.otherCaFile });
    expectUnreachable(
      run,
      /certificate of 127\.0\.0\.1 not trusted, [A-Z_]+; set REDIS_TLS_CA_FILE or --redis-tls-ca-file to the server's CA file, or check it is the server's CA/,
    );
    expect(await redis.dbsize()).toBe(0);
  });

  it("no CA is exit 3 too: Node's bundled CAs do not include the test CA", async () => {
    const run = await runCli(['status', '--json'], { REDIS_URL: server.url(0) });
    expectUnreachable(run, /certificate of 127\.0\.0\.1 not trusted/);
  });

  it('a host the certificate does not name (127.0.0.2) is exit 3', async () => {
    const run = await cli(['status', '--json'], { REDIS_URL: server.url(0, '127.0.0.2') });
    expectUnreachable(run, /certificate does not name 127\.0\.0\.2, ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('redis:// to the TLS port is exit 3 suggesting rediss://', async () => {
    const run = await runCli(['status', '--json'], { REDIS_URL: `redis://127.0.0.1:${server.port}/0` });
    expectUnreachable(run, /use a rediss:\/\/ URL/);
  });

  it('a CA file for a redis:// URL is exit 2', async () => {
    const run = await cli(['status'], { REDIS_URL: `redis://127.0.0.1:${server.port}/0` });
    expect(run.code).toBe(2);
    expect(run.messages).toEqual([
      'stats-refresh: REDIS_TLS_CA_FILE is set but REDIS_URL is not a rediss:// URL, so it would not be used; use rediss:// for TLS',
    ]);
  });
});
