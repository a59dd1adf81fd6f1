/**
 * The built binary's output for a person and for a machine: on a terminal (a pseudo-terminal
 * from util-linux `script`) readable log lines and a summary table; piped, with --json or
 * LOG_FORMAT=json, exactly the JSON a pipe gets; LOG_FORMAT=pretty forces the readable form
 * through a pipe; secrets and emails stay hidden in both.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GOLDEN_EMAILS } from '../helpers/golden.js';
import { runCli, runCliInTerminal, startCliInTerminal, summaryOf } from '../helpers/cli.js';
import { GOLDEN_NOW, databaseFromTemplate, goldenTemplate, readKeys, type TestDatabase } from '../helpers/services.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';

const REDIS_SECRET = 'terminal-redis-s3cret';
const PG_SECRET = 'terminal-pg-s3cret';

let database: TestDatabase;
let broken: TestDatabase;
let server: RedisServer;
let redis: TestRedisClient;
let env: Record<string, string>;

beforeAll(async () => {
  [database, broken] = await Promise.all([databaseFromTemplate(goldenTemplate(), 'terminal'), databaseFromTemplate(goldenTemplate(), 'terminal_broken')]);
  await broken.query('ALTER TABLE "user" DROP COLUMN country');
  server = await RedisServer.start({
    args: (port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', REDIS_SECRET],
    clientOptions: { password: REDIS_SECRET },
    auth: `:${REDIS_SECRET}@`,
  });
  redis = await server.client();
  // trust authentication ignores the password; it is here to be hidden.
  env = { DATABASE_URL: database.url.replace('postgres://postgres@', `postgres://postgres:${PG_SECRET}@`), REDIS_URL: server.url() };
});

afterAll(async () => {
  await redis?.close();
  await server?.stop();
  await Promise.all([database?.drop(), broken?.drop()]);
});

beforeEach(async () => {
  await redis.flushdb();
});

/** A table's rows as their cells, whatever the spacing. */
function rowsOf(text: string): string[][] {
  return text.split('\n').map((line) => line.trim().split(/\s{2,}/));
}

/** Lines that are JSON objects: none on a terminal. */
function jsonLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trimStart().startsWith('{'));
}

/** A pretty log line: time, level, message. */
const prettyLog = (level: string, msg: string) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${level} +${msg}`, 'm');

/** The summary line with its only varying field fixed, to compare two runs byte for byte. */
const steady = (line: string) => line.replace(/"duration_ms":\d+/, '"duration_ms":0');

/** The children of a process (Linux). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function expectNoSecrets(text: string): void {
  for (const secret of [REDIS_SECRET, PG_SECRET, ...GOLDEN_EMAILS]) expect(text).not.toContain(secret);
}

describe('on a terminal', () => {
  it('refresh: readable log lines and a table of the families, no JSON', async () => {
    const run = await runCliInTerminal(['refresh', 'all', '--now', GOLDEN_NOW], env);
    expect(run.code).toBe(0);
    expect(jsonLines(run.output)).toEqual([]);
    expect(run.output).toMatch(prettyLog('INFO', 'refresh started  command="refresh all" configs=26'));
    expect(run.output).toMatch(prettyLog('INFO', 'refresh finished  command="refresh all" successful=26 failed=0 keys=41'));
    expect(run.output).toContain('refresh all as of 2026-06-15T12:34:56.000Z: 26 requests, all 26 ok; 41 keys written;');
    const rows = rowsOf(run.output).map((row) => row.slice(0, 6));
    expect(rows).toContainEqual(['FAMILY', 'REQUESTS', 'OK', 'FAILED', 'LEARNED', 'KEYS']);
    expect(rows).toContainEqual(['dashboard', '12', '12', '0', '0', '27']);
    expect(rows).toContainEqual(['executions', '8', '8', '0', '0', '8']);
    expect(rows).toContainEqual(['users', '6', '6', '0', '0', '6']);
    expect(rows).toContainEqual(['total', '26', '26', '0', '0', '41']);
    expect((await readKeys(redis, 'stats_service:*')).size).toBe(41);
    expectNoSecrets(run.output);
  });

  it('warmup: the same table', async () => {
    const run = await runCliInTerminal(['warmup', '--now', GOLDEN_NOW], env);
    expect(run.code).toBe(0);
    expect(jsonLines(run.output)).toEqual([]);
    expect(run.output).toContain('warmup as of 2026-06-15T12:34:56.000Z: 26 requests, all 26 ok; 41 keys written;');
    expect(rowsOf(run.output).map((row) => row.slice(0, 6))).toContainEqual(['total', '26', '26', '0', '0', '41']);
  });

  it('refresh --json and LOG_FORMAT=json: exactly the JSON a pipe gets, logs and summary', async () => {
    // Every run computes (--force): the second would otherwise only renew (nothing changed).
    const piped = await runCli(['refresh', 'all', '--now', GOLDEN_NOW, '--force'], env);
    const pipedSummary = piped.stdout.trim();
    expect(summaryOf(piped).successful).toBe(26);
    for (const [args, extra] of [
      [['--json'], {}],
      [[], { LOG_FORMAT: 'json' }],
    ] as const) {
      const run = await runCliInTerminal(['refresh', 'all', '--now', GOLDEN_NOW, '--force', ...args], { ...env, ...extra });
      expect(run.code).toBe(0);
      const lines = run.output.trim().split('\n');
      expect(jsonLines(run.output)).toEqual(lines);
      const logs = lines.slice(0, -1).map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(logs.map((log) => log.msg)).toEqual(piped.logs.map((log) => log.msg));
      expect(steady(lines.at(-1)!)).toBe(steady(pipedSummary));
    }
  });

  it('schedule: readable log lines from start to stop', async () => {
    let seen = '';
    let ready!: () => void;
    const started = new Promise<void>((resolve) => (ready = resolve));
    const running = startCliInTerminal(['schedule', '--metrics-port', '0'], env, (output) => {
      seen = output;
      // Whatever its format: the assertions below say which it must be.
      if (output.includes('schedule run finished')) ready();
    });
    const scriptPid = running.child.pid!;
    try {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no run finished within 40 s:\n${seen}`)), 40_000);
      });
      await Promise.race([started, bound, running.done.then(() => Promise.reject(new Error(`schedule ended early:\n${seen}`)))]).finally(() =>
        clearTimeout(timer),
      );
      // `script` runs the binary as its only child (see startCliInTerminal): stop that one gracefully.
      const [binaryPid] = childrenOf(scriptPid);
      process.kill(binaryPid!, 'SIGTERM');
      const run = await running.done;
      expect(run.code).toBe(0);
      expect(jsonLines(run.output)).toEqual([]);
      expect(run.output).toMatch(prettyLog('INFO', 'schedule started'));
      expect(run.output).toMatch(prettyLog('INFO', 'schedule run finished'));
      expect(run.output).toMatch(prettyLog('WARN', 'shutdown requested: finishing in-flight work  signal=SIGTERM'));
      expect(run.output).toMatch(prettyLog('INFO', 'schedule stopped'));
      expectNoSecrets(run.output);
    } finally {
      // A failed test leaves nothing running (SIGHUP from the closed terminal would not stop it).
      if (running.child.exitCode === null) {
        for (const pid of childrenOf(scriptPid)) process.kill(pid, 'SIGKILL');
        running.child.kill('SIGKILL');
      }
    }
  });

  it('status with LOG_FORMAT=json prints its JSON, as when piped', async () => {
    const run = await runCliInTerminal(['status'], { ...env, LOG_FORMAT: 'json' });
    const lines = run.output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ missing: 41, present: 0 });
  });
});

describe('through a pipe', () => {
  it('LOG_FORMAT=pretty: readable lines, and the table names each failed request and its reason; nothing secret', async () => {
    const run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW, '--log-level', 'debug'], {
      ...env,
      DATABASE_URL: broken.url.replace('postgres://postgres@', `postgres://postgres:${PG_SECRET}@`),
      LOG_FORMAT: 'pretty',
    });
    expect(run.code).toBe(1);
    expect(run.logs).toEqual([]);
    expect(jsonLines(run.stdout)).toEqual([]);
    const reason = 'query user_table failed: column "country" of relation "user" does not exist';
    expect(run.stderr).toMatch(prettyLog('ERROR', `config failed  config=users/all/month key=`));
    expect(run.stderr).toMatch(prettyLog('DEBUG', 'query done'));
    expect(run.stdout).toContain('refresh all as of 2026-06-15T12:34:56.000Z: 26 requests, 10 ok, 16 FAILED; 15 keys written;');
    const rows = rowsOf(run.stdout);
    expect(rows.map((row) => row.slice(0, 6))).toContainEqual(['users', '6', '0', '6 FAILED', '0', '0']);
    expect(rows).toContainEqual(['FAILED REQUEST', 'REASON']);
    expect(rows).toContainEqual(['users/all/month', reason]);
    expect(rows).toContainEqual(['dashboard/all[geographic]', reason]);
    expect(rows.filter((row) => row[1] === reason)).toHaveLength(16);
    expectNoSecrets(run.stdout + run.stderr);
  });

  it('a LOG_FORMAT it cannot read: exit 2, one line naming LOG_FORMAT, nothing attempted', async () => {
    for (const args of [['refresh', 'all'], ['schedule'], ['status']]) {
      const run = await runCli(args, { ...env, LOG_FORMAT: 'text' });
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.messages).toEqual(['stats-refresh: LOG_FORMAT must be one of json, pretty, got "text"']);
    }
    expect((await readKeys(redis, '*')).size).toBe(0);
  });
});
