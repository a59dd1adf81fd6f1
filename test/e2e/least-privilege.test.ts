/**
 * Least privilege: every command works with a PostgreSQL role that may only read the
 * API's three tables, and a Redis ACL user limited to our two key prefixes and the
 * exact commands we send. Both restrictions are checked to really bite, and the Redis
 * ACL log must show no refused command (many refusals would otherwise pass silently:
 * lock release and renewal, run metadata, the connection name).
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, runCli, summaryOf, type CliRun } from '../helpers/cli.js';
import { staleValue } from '../helpers/golden.js';
import { eventually, startSchedule } from '../helpers/schedule.js';
import {
  GOLDEN_NOW,
  goldenTemplate,
  databaseFromTemplate,
  readKeys,
  type TestDatabase,
} from '../helpers/services.js';
import { readOnlyRole } from '../helpers/read-only-role.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';

/**
 * The Redis ACL rule for the stats-refresh user, exactly as docs/operations.md gives it:
 * connection (PING, INFO for ioredis's ready check, SELECT, CLIENT SETNAME), payloads and
 * family locks (SET, GET, DEL, and EVAL whose scripts call GET, DEL and PEXPIRE), run
 * metadata (HSET, HGETALL), learned requests (HMGET, HDEL), status/clear (TTL, STRLEN, SCAN), and schedule's self-healing
 * (EXISTS, PTTL, and CLIENT ID, CLIENT TRACKING, SUBSCRIBE on its invalidation channel).
 */
export const REDIS_ACL_RULE =
  'ACL SETUSER stats-refresh on >PASSWORD resetkeys ~stats_service:* ~stats_refresh:* resetchannels &__redis__:invalidate -@all ' +
  '+ping +info +select +client|setname +get +set +del +eval +pexpire +hset +hgetall +hmget +hdel +ttl +strlen +scan ' +
  '+exists +pttl +client|id +client|tracking +subscribe';

const expected = JSON.parse(
  readFileSync(new URL('../fixtures/golden/expected.json', import.meta.url), 'utf8'),
) as Record<string, { raw: string }>;
const expectedKeys = Object.keys(expected).sort();
const FAMILIES = ['dashboard', 'executions', 'users'];

/** REDIS_ACL_RULE's arguments after `ACL`, for `user` with `password`, minus the commands in `without`. */
function aclArguments(user: string, password: string, without: readonly string[] = []): string[] {
  const words = REDIS_ACL_RULE.split(' ');
  expect(words.slice(0, 4)).toEqual(['ACL', 'SETUSER', 'stats-refresh', 'on']);
  return words
    .slice(1)
    .filter((word) => !without.includes(word))
    .map((word) => (word === 'stats-refresh' ? user : word === '>PASSWORD' ? `>${password}` : word));
}

function userRedisUrl(user: string, password: string): string {
  const url = new URL(server.url(1));
  url.username = user;
  url.password = password;
  return url.toString();
}

interface AclLogEntry {
  username: string;
  reason: string;
  context: string;
  object: string;
}

/** ACL LOG entries (refused commands and keys) for `user`. */
async function aclLogOf(admin: Redis, user: string): Promise<AclLogEntry[]> {
  const raw = (await admin.call('ACL', 'LOG', '1000')) as unknown[][];
  return raw
    .map((entry) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < entry.length; i += 2) fields[String(entry[i])] = String(entry[i + 1]);
      return fields as unknown as AclLogEntry;
    })
    .filter((entry) => entry.username === user)
    // ioredis sends CLIENT SETINFO on connect and ignores its failure; Redis 7.0 has no such subcommand.
    .filter((entry) => entry.object !== 'client|setinfo');
}

let database: TestDatabase;
let role: string;
let roleUrl: string;
let dropRole: (() => Promise<void>) | undefined;
let server: RedisServer;
let admin: TestRedisClient;
let aclUser: string;
let aclPassword: string;
let env: Record<string, string>;
const extraAclUsers: string[] = [];

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'leastpriv');
  const reader = await readOnlyRole(database);
  role = reader.name;
  roleUrl = reader.url;
  dropRole = () => reader.drop();

  server = await RedisServer.start();

  // A logical database other than 0, so that every connection has to SELECT it (see the last test).
  admin = await server.client(1);
  aclUser = `sr_test_acl_${randomBytes(4).toString('hex')}`;
  aclPassword = randomBytes(18).toString('hex');
  await admin.call('ACL', ...aclArguments(aclUser, aclPassword));
  env = { DATABASE_URL: roleUrl, REDIS_URL: userRedisUrl(aclUser, aclPassword) };
});

afterAll(async () => {
  if (admin) {
    for (const user of [aclUser, ...extraAclUsers]) if (user) await admin.call('ACL', 'DELUSER', user);
    await admin.close();
  }
  await dropRole?.();
  await database?.drop();
  await server?.stop();
});

/** Runs the CLI as the restricted PostgreSQL role and Redis user. */
function runRestricted(args: readonly string[]): Promise<CliRun> {
  return runCli(args, env);
}

async function expectGoldenKeys(): Promise<void> {
  const written = await readKeys(admin, 'stats_service:*');
  expect([...written.keys()].sort()).toEqual(expectedKeys);
  for (const key of expectedKeys) {
    expect(JSON.parse(written.get(key)!), key).toStrictEqual(JSON.parse(expected[key]!.raw));
  }
}

async function lockKeys(): Promise<string[]> {
  return [...(await readKeys(admin, 'stats_refresh:lock:*')).keys()];
}

describe('the PostgreSQL role', () => {
  it('reads "user", script and execution, and nothing else', async () => {
    const client = new pg.Client({ connectionString: roleUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ rolsuper: boolean; current_user: string }>(
        'SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user',
      );
      expect(rows).toEqual([{ current_user: role, rolsuper: false }]);
      for (const table of ['"user"', 'script', 'execution']) {
        await expect(client.query(`SELECT count(*) FROM ${table}`)).resolves.toBeDefined();
      }
      const refused = [
        'SELECT * FROM api_secret',
        'CREATE TABLE scratch (id int)',
        'CREATE TEMP TABLE scratch (id int)',
        `INSERT INTO script (id, slug) SELECT id, slug FROM script LIMIT 0`,
        `UPDATE "user" SET email = email WHERE false`,
        'DELETE FROM execution WHERE false',
        'TRUNCATE execution',
      ];
      for (const statement of refused) {
        await expect(client.query(statement), statement).rejects.toMatchObject({ code: '42501' });
      }
    } finally {
      await client.end();
    }
  });

  it('holds CONNECT on its database, and no TEMP or CREATE there', async () => {
    const { rows } = await database.query(
      `SELECT has_database_privilege($1, $2, 'CONNECT') AS connect,
              has_database_privilege($1, $2, 'TEMP') AS temp,
              has_database_privilege($1, $2, 'CREATE') AS "create",
              has_schema_privilege($1, 'public', 'CREATE') AS schema_create`,
      [role, database.name],
    );
    expect(rows).toEqual([{ connect: true, temp: false, create: false, schema_create: false }]);
  });
});

describe('every command as the restricted PostgreSQL role and Redis ACL user', () => {
  it('refresh all writes the 41 golden keys and releases its locks', async () => {
    const run = await runRestricted(['refresh', 'all', '--now', GOLDEN_NOW]);
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    expect(summaryOf(run)).toMatchObject({ total_refreshed: 26, successful: 26, failed: 0, failures: [] });
    expect(run.logs.filter((log) => log.level !== 'info'), run.stderr).toEqual([]);
    await expectGoldenKeys();
    expect(await lockKeys()).toEqual([]);
  });

  it.each([['status', '--json'], ['cache', 'info', '--json']])(
    '`%s %s` reports every key present with its last write, and each family’s run',
    async (...args) => {
      const run = await runRestricted(args.filter(Boolean));
      expect(run.messages, run.stderr).toEqual([]);
      expect(run.code, run.stderr).toBe(0);
      const status = JSON.parse(run.stdout) as {
        covered: Array<{ key: string; present: boolean; written_at: string | null }>;
        missing: number;
        families: Record<string, { successful: number; failed: number } | null>;
        redis: string;
      };
      expect(status.missing).toBe(0);
      expect(status.covered.map((row) => row.key).sort()).toEqual(expectedKeys);
      for (const row of status.covered) {
        expect(row.present, row.key).toBe(true);
        expect(row.written_at, row.key).toEqual(expect.any(String));
      }
      for (const family of FAMILIES) expect(status.families[family], family).toMatchObject({ failed: 0 });
      expect(run.stdout).not.toContain(aclPassword);
    },
  );

  it('clear --dry-run lists every stats key and deletes nothing', async () => {
    const run = await runRestricted(['clear', '--dry-run']);
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { matched: number; deleted: number; keys: string[] };
    expect(summary).toMatchObject({ matched: expectedKeys.length, deleted: 0 });
    expect(summary.keys).toEqual(expectedKeys);
    await expectGoldenKeys();
  });

  it('clear summary deletes exactly the summary keys', async () => {
    const summaryKeys = expectedKeys.filter((key) => key.includes('summary'));
    expect(summaryKeys.length).toBeGreaterThan(0);
    const run = await runRestricted(['clear', 'summary']);
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ matched: summaryKeys.length, deleted: summaryKeys.length });
    const left = [...(await readKeys(admin, 'stats_service:*')).keys()].sort();
    expect(left).toEqual(expectedKeys.filter((key) => !summaryKeys.includes(key)));
  });

  it('warmup writes the cleared keys again, renews the unchanged families (PEXPIRE), and status then exits 0', async () => {
    const run = await runRestricted(['warmup', '--now', GOLDEN_NOW, '--wait-timeout', '10']);
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    // `clear summary` took dashboard keys: that family computes; the others' data did not change.
    const summary = summaryOf(run) as { successful: number; failed: number; unchanged?: Record<string, unknown> };
    expect(summary).toMatchObject({ successful: 12, failed: 0 });
    expect(Object.keys(summary.unchanged ?? {}).sort()).toEqual(['executions', 'users']);
    await expectGoldenKeys();
    expect(await lockKeys()).toEqual([]);
    const status = await runRestricted(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
  });

  it('learns a request the API wrote, refreshes it, and forgets it when it lapses', async () => {
    const learnedKey = 'stats_service:get_user_stats:country=Kenya_group_by=week_period=last_month';
    await admin.set(learnedKey, staleValue(learnedKey), 'EX', 300);
    const learn = await runRestricted(['refresh', 'users', '--now', GOLDEN_NOW]);
    expect(learn.code, learn.stderr).toBe(0);
    expect(learn.logs.filter((log) => log.level !== 'info'), learn.stderr).toEqual([]);
    expect(summaryOf(learn)).toMatchObject({ learned: 1, failed: 0 });
    expect(await admin.hexists('stats_refresh:learned', learnedKey)).toBe(1);
    const later = new Date(Date.parse(GOLDEN_NOW) + 25 * 3_600_000).toISOString();
    const lapse = await runRestricted(['refresh', 'users', '--now', later]);
    expect(lapse.code, lapse.stderr).toBe(0);
    expect(lapse.logs.filter((log) => log.level !== 'info'), lapse.stderr).toEqual([]);
    expect(await admin.hexists('stats_refresh:learned', learnedKey)).toBe(0);
    await admin.del(learnedKey);
    // Put the golden values back for the tests after this one.
    expect((await runRestricted(['refresh', 'users', '--now', GOLDEN_NOW])).code).toBe(0);
  });

  it('renews its family locks while a run lasts', async () => {
    // Hold the run's queries on a table lock, so the run outlives several lock lifetimes.
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    let child: ReturnType<typeof spawn> | undefined;
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE execution IN ACCESS EXCLUSIVE MODE');
      child = spawn(process.execPath, [CLI_PATH, 'refresh', 'all', '--now', GOLDEN_NOW, '--lock-ttl', '1'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: 'UTC', LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      child.stdout!.resume();
      const exited = new Promise<number | null>((resolve) => child!.on('close', (code) => resolve(code)));
      const deadline = Date.now() + 15_000;
      while ((await lockKeys()).length < FAMILIES.length && Date.now() < deadline) await sleep(50);
      expect((await lockKeys()).sort(), stderr).toEqual(FAMILIES.map((family) => `stats_refresh:lock:${family}`));
      // Three lifetimes of a 1 s lock: only renewals keep them.
      await sleep(3_000);
      expect((await lockKeys()).sort(), stderr).toEqual(FAMILIES.map((family) => `stats_refresh:lock:${family}`));
      await blocker.query('COMMIT');
      expect(await exited, stderr).toBe(0);
      child = undefined;
      expect(await lockKeys()).toEqual([]);
      await expectGoldenKeys();
    } finally {
      child?.kill('SIGKILL');
      await blocker.end();
    }
  });

  it('schedule (change mode: the leader lease, the change probe) refreshes at start and heals a flush with invalidation messages on, then exits 0 on SIGTERM', async () => {
    const started = await startSchedule(['--log-level', 'debug'], env);
    try {
      const present = async () => (await readKeys(admin, 'stats_service:*')).size === expectedKeys.length;
      await eventually('the start run wrote every key', present);
      await started.waitForLog('invalidation messages on');
      await eventually('the change probe answered as the least-privilege role', async () =>
        /^stats_refresh_probe_duration_seconds_count [1-9]/m.test(await started.metrics()),
      );
      await admin.flushdb();
      await eventually('every key back after a flush', present);
      started.child.kill('SIGTERM');
      const done = await started.done;
      expect(done.code, done.stderr).toBe(0);
      // Expected warnings only: the flush, the SIGTERM.
      const expectedWarnings = /^(covered keys missing|shutdown requested)/;
      expect(done.logs.filter((log) => log.level === 'warn' && !expectedWarnings.test(String(log.msg)))).toEqual([]);
      expect(done.logs.filter((log) => log.level === 'error')).toEqual([]);
      expect(done.stderr).not.toContain(aclPassword);
    } finally {
      await started.stop();
    }
  });

  it('had no command or key refused (ACL LOG)', async () => {
    expect(await aclLogOf(admin, aclUser)).toEqual([]);
  });
});

describe('the Redis ACL bites', () => {
  let client: Redis;

  beforeAll(async () => {
    client = new Redis(userRedisUrl(aclUser, aclPassword), { lazyConnect: true, enableOfflineQueue: false });
    await client.connect();
  });

  afterAll(async () => {
    await client?.quit();
  });

  it('allows our keys', async () => {
    await expect(client.set('stats_service:acl_probe', '1', 'EX', 60)).resolves.toBe('OK');
    await expect(client.set('stats_refresh:acl_probe', '1', 'EX', 60)).resolves.toBe('OK');
    await admin.del('stats_service:acl_probe', 'stats_refresh:acl_probe');
  });

  it('refuses keys outside the two prefixes, directly and through scripts', async () => {
    await expect(client.set('other:key', '1')).rejects.toThrow(/NOPERM/);
    await expect(client.get('other:key')).rejects.toThrow(/NOPERM/);
    await expect(client.del('session:1')).rejects.toThrow(/NOPERM/);
    await expect(client.eval("return redis.call('set', KEYS[1], '1')", 1, 'other:key')).rejects.toThrow(/NOPERM/);
    expect(await admin.exists('other:key')).toBe(0);
  });

  it('refuses commands not in the rule', async () => {
    await expect(client.flushdb()).rejects.toThrow(/NOPERM/);
    await expect(client.keys('*')).rejects.toThrow(/NOPERM/);
    await expect(client.call('CONFIG', 'GET', 'dir')).rejects.toThrow(/NOPERM/);
    await expect(client.expire('stats_service:x', 10)).rejects.toThrow(/NOPERM/);
    await expect(client.call('ACL', 'LIST')).rejects.toThrow(/NOPERM/);
    await expect(client.call('CLIENT', 'KILL', 'TYPE', 'normal')).rejects.toThrow(/NOPERM/);
    await expect(client.publish('stats_service:channel', 'x')).rejects.toThrow(/NOPERM/);
  });
});

describe('a Redis user without SELECT', () => {
  it('fails the command instead of silently using database 0', async () => {
    const user = `sr_test_acl_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(18).toString('hex');
    extraAclUsers.push(user);
    await admin.call('ACL', ...aclArguments(user, password, ['+select']));
    // Read-only on purpose: a refused SELECT leaves the connection on database 0.
    const run = await runCli(['clear', '--dry-run'], { REDIS_URL: userRedisUrl(user, password) });
    expect(run.code, `${run.stdout}\n${run.stderr}`).not.toBe(0);
    expect(run.stdout).toBe('');
  });
});
