/**
 * Secrets from files, as Docker Swarm mounts them under /run/secrets/: DATABASE_URL_FILE,
 * REDIS_URL_FILE and ROLLBAR_ACCESS_TOKEN_FILE are read (trailing newline and all) and
 * used; setting a variable and its _FILE, or naming an unreadable file, is exit 2 naming
 * the variable; and no run ever prints what the files hold.
 */
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, summaryOf, type CliRun } from '../helpers/cli.js';
import { GOLDEN_KEYS } from '../helpers/golden.js';
import { GOLDEN_NOW, databaseFromTemplate, goldenTemplate, readKeys, type TestDatabase } from '../helpers/services.js';
import { type TestCertificates, type TlsRedis, makeCertificates, startTlsRedis } from '../helpers/tls.js';

const DATABASE_PASSWORD = 'db-secret-from-file-7f3a';
const REDIS_PASSWORD = 'redis-secret-from-file-91c2';
const TOKEN = 'rollbar-token-from-file-5e8d';

/** A local Rollbar API that records the access token of every item. */
function fakeRollbar(): { start(): Promise<string>; tokens: string[]; stop(): void } {
  const tokens: string[] = [];
  const server = http.createServer((req, res) => {
    tokens.push(String(req.headers['x-rollbar-access-token']));
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"err":0,"result":{"uuid":"00000000-0000-4000-8000-000000000000"}}');
    });
  });
  return {
    tokens,
    async start() {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/1/`;
    },
    stop: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

let certs: TestCertificates;
let server: TlsRedis;
let redis: Redis;
let intact: TestDatabase;
let broken: TestDatabase;
let secretsDir: string;
const rollbar = fakeRollbar();
let endpoint: string;
/** Every run of this file, to search for the secrets at the end. */
const runs: CliRun[] = [];
/** What the secret files hold. */
const contents: string[] = [];

function withPassword(database: TestDatabase): string {
  const url = new URL(database.url);
  url.username = 'postgres';
  url.password = DATABASE_PASSWORD;
  return url.toString();
}

/** A secret file as Swarm mounts one: read-only, ending with the newline `echo` leaves. */
function secretFile(name: string, value: string): string {
  const path = join(secretsDir, name);
  writeFileSync(path, `${value}\n`);
  chmodSync(path, 0o400);
  contents.push(value);
  return path;
}

async function cli(args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  const run = await runCli(args, env);
  runs.push(run);
  return run;
}

beforeAll(async () => {
  certs = makeCertificates();
  secretsDir = mkdtempSync(join(tmpdir(), 'sr-test-secrets-'));
  [server, intact, broken, endpoint] = await Promise.all([
    startTlsRedis(certs, { password: REDIS_PASSWORD }),
    databaseFromTemplate(goldenTemplate(), 'secret_files'),
    databaseFromTemplate(goldenTemplate(), 'secret_files_broken'),
    rollbar.start(),
  ]);
  // Some configs fail on it, so there are failures to report.
  await broken.query('ALTER TABLE "user" DROP COLUMN country');
  redis = await server.client();
});

afterAll(async () => {
  redis?.disconnect();
  rollbar.stop();
  await server?.stop();
  await intact?.drop();
  await broken?.drop();
  certs?.remove();
  if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
});

describe('secrets read from files', () => {
  let files: Record<string, string>;

  beforeAll(() => {
    files = {
      DATABASE_URL_FILE: secretFile('database_url', withPassword(intact)),
      REDIS_URL_FILE: secretFile('redis_url', server.url(0)),
      ROLLBAR_ACCESS_TOKEN_FILE: secretFile('rollbar_token', TOKEN),
      BROKEN_DATABASE_URL_FILE: secretFile('broken_database_url', withPassword(broken)),
    };
  });

  it('refresh all reads DATABASE_URL_FILE and REDIS_URL_FILE (the Redis password must be right)', async () => {
    await redis.flushdb();
    const run = await cli(['refresh', 'all', '--now', GOLDEN_NOW], {
      DATABASE_URL_FILE: files.DATABASE_URL_FILE!,
      REDIS_URL_FILE: files.REDIS_URL_FILE!,
      REDIS_TLS_CA_FILE: certs.caFile,
    });
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    expect(summaryOf(run)).toMatchObject({ successful: 26, failed: 0 });
    expect([...(await readKeys(redis, 'stats_service:*')).keys()].sort()).toEqual([...GOLDEN_KEYS]);
  });

  it('status reads REDIS_URL_FILE', async () => {
    const run = await cli(['status', '--json'], { REDIS_URL_FILE: files.REDIS_URL_FILE!, REDIS_TLS_CA_FILE: certs.caFile });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ missing: 0 });
  });

  it('ROLLBAR_ACCESS_TOKEN_FILE: failures are reported with the token from the file', async () => {
    rollbar.tokens.length = 0;
    const run = await cli(['refresh', 'all', '--now', GOLDEN_NOW], {
      DATABASE_URL_FILE: files.BROKEN_DATABASE_URL_FILE!,
      REDIS_URL_FILE: files.REDIS_URL_FILE!,
      REDIS_TLS_CA_FILE: certs.caFile,
      ROLLBAR_ACCESS_TOKEN_FILE: files.ROLLBAR_ACCESS_TOKEN_FILE!,
      ROLLBAR_ENDPOINT: endpoint,
    });
    expect(run.code, run.stderr).toBe(1);
    // One item per failed config (which ones fail is the Rollbar test's business), each with the token.
    const { failed } = summaryOf(run);
    expect(failed).toBeGreaterThan(0);
    expect(rollbar.tokens).toEqual(Array.from({ length: failed }, () => TOKEN));
  });

  it('a flag wins over a _FILE variable, whose file is then not read', async () => {
    const run = await cli(['status', '--json', '--redis-url', server.url(0)], {
      REDIS_URL_FILE: '/nonexistent/redis_url',
      REDIS_TLS_CA_FILE: certs.caFile,
    });
    // Connected and reported (exit 1 would only mean covered keys are missing).
    expect([0, 1], run.stderr).toContain(run.code);
    expect(JSON.parse(run.stdout).redis).toBe(`rediss://:***@127.0.0.1:${server.port}/0`);
  });

  it.each(['DATABASE_URL', 'REDIS_URL', 'ROLLBAR_ACCESS_TOKEN'])(
    '%s together with its _FILE is exit 2 naming both, before anything connects',
    async (variable) => {
      const value = variable === 'ROLLBAR_ACCESS_TOKEN' ? TOKEN : variable === 'REDIS_URL' ? server.url(0) : withPassword(intact);
      const run = await cli(['refresh', 'all'], { [variable]: value, [`${variable}_FILE`]: files[`${variable}_FILE`]! });
      expect(run.code).toBe(2);
      expect(run.messages).toEqual([`stats-refresh: ${variable} and ${variable}_FILE are both set; set only one of them`]);
      expect(run.logs).toEqual([]);
    },
  );

  it.each(['DATABASE_URL', 'REDIS_URL', 'ROLLBAR_ACCESS_TOKEN'])('an unreadable %s_FILE is exit 2 naming it', async (variable) => {
    const run = await cli(['refresh', 'all'], { [`${variable}_FILE`]: join(secretsDir, 'missing') });
    expect(run.code).toBe(2);
    expect(run.messages).toEqual([`stats-refresh: ${variable}_FILE: cannot read ${join(secretsDir, 'missing')} (ENOENT: no such file)`]);
    const folder = await cli(['refresh', 'all'], { [`${variable}_FILE`]: secretsDir });
    expect(folder.code).toBe(2);
    expect(folder.messages).toEqual([`stats-refresh: ${variable}_FILE: cannot read ${secretsDir} (a folder, not a file)`]);
  });

  it('a _FILE holding a wrong URL is exit 2 naming the variable, not echoing the file', async () => {
    const wrong = secretFile('wrong_redis_url', `http://:${REDIS_PASSWORD}@127.0.0.1:${server.port}/0`);
    const run = await cli(['status'], { REDIS_URL_FILE: wrong });
    expect(run.code).toBe(2);
    expect(run.messages).toEqual(['stats-refresh: REDIS_URL_FILE must be a redis: or rediss: URL for Redis, got http:']);
  });

  it('no run printed what the files hold, nor the passwords and token in them', () => {
    expect(runs.length).toBeGreaterThanOrEqual(10);
    const output = runs.map((run) => `${run.stdout}\n${run.stderr}`).join('\n');
    for (const secret of [...contents, DATABASE_PASSWORD, REDIS_PASSWORD, TOKEN]) expect(output).not.toContain(secret);
    // The runs did talk about their connections, so the search looked at something.
    expect(output).toContain(`127.0.0.1:${server.port}`);
  });
});
