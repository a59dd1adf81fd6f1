/**
 * The run in-process, on the real PostgreSQL and Redis: the loader and the pass against
 * the contract's definitions (test/helpers/reference-data.ts) on the golden database plus
 * rows made to hit every edge, at several instants; the family run end to end; and the
 * runner with faults injected where a fake makes them easy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/io/db.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { loadRunData } from '../../src/pass/load.js';
import { readFileSync } from 'node:fs';
import { parseBatchFile } from '../../src/requests/batch-file.js';
import { requestsFor, type StatsRequest } from '../../src/requests/batches.js';
import { requestLabel, payloadKey } from '../../src/requests/request-keys.js';
import { parseRequest } from '../../src/requests/request.js';
import { runTargets } from '../../src/run/family-run.js';
import { type RefreshDeps, runRefresh } from '../../src/run/refresh-run.js';
import { summaryOf } from '../../src/run/results.js';
import { openRuntime } from '../../src/run/runtime.js';
import { resolveTargets } from '../../src/run/targets.js';
import { Assembler } from '../../src/stats/assemble.js';
import { planLoad, sourcesOf } from '../../src/stats/sections.js';
import { createLogger } from '../../src/io/logger.js';
import { noReporter } from '../../src/io/reporter.js';
import { GOLDEN_KEYS, goldenValue } from '../helpers/golden.js';
import { random } from '../helpers/random.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { type ExecutionRow, referenceData, type Rows } from '../helpers/reference-data.js';
import { databaseFromTemplate, GOLDEN_NOW, goldenTemplate, readKeys, type TestDatabase } from '../helpers/services.js';

const REQUESTS_FILE = new URL('../fixtures/golden/requests.txt', import.meta.url).pathname;


const uuid = (next: () => number) =>
  Array.from({ length: 32 }, (_, index) => (index === 12 ? '4' : Math.floor(next() * 16).toString(16)))
    .join('')
    .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

/** Scripts, users and executions chosen to hit the edges: LIKE wildcards in slugs, NULLs, odd statuses, far and future times. */
async function addEdgeRows(database: TestDatabase): Promise<void> {
  const next = random(0x5eed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const slugs = ['a_b-v1-0', 'pct%slug-2-0-0', 'back\\slash-v3', 'sdg-15-3-1-sub-indicators-9-9-9', 'vegetation-productivity-1-2-3', 'productivity-trajectory-v2-1'];
  const scriptIds = slugs.map(() => uuid(next));
  await database.query(
    `INSERT INTO script (id, name, slug, status, public) SELECT id, slug, slug, 'SUCCESS', true FROM unnest($1::uuid[], $2::text[]) AS t(id, slug)`,
    [scriptIds, slugs],
  );
  const { rows: existing } = await database.query('SELECT id::text AS id FROM script');
  const allScripts = existing.map((row) => row.id as string);
  const countries = ['Kenya', 'Brazil', '', null, '  ', 'Côte d’Ivoire'];
  const now = Date.parse(GOLDEN_NOW);
  const day = 86_400_000;
  const users = Array.from({ length: 40 }, () => ({
    id: uuid(next),
    country: pick(countries),
    created: next() < 0.1 ? null : new Date(now - next() * 800 * day).toISOString(),
  }));
  await database.query(
    `INSERT INTO "user" (id, email, name, country, password, created_at)
     SELECT id, id::text || '@example.org', 'edge', country, 'x', created FROM unnest($1::uuid[], $2::text[], $3::timestamp[]) AS t(id, country, created)`,
    [users.map((user) => user.id), users.map((user) => user.country), users.map((user) => user.created)],
  );
  const { rows: everyone } = await database.query('SELECT id::text AS id FROM "user"');
  const executions = Array.from({ length: 3000 }, () => {
    const start = next() < 0.05 ? null : now - next() * 500 * day + 2 * day;
    return {
      id: uuid(next),
      start: start === null ? null : new Date(start).toISOString(),
      end: start === null || next() < 0.3 ? null : new Date(start + Math.floor(next() * 600 * 60_000)).toISOString(),
      status: pick(['FINISHED', 'FAILED', 'CANCELLED', 'RUNNING', 'PENDING', 'READY', null, 'odd']),
      script: next() < 0.05 ? null : pick(allScripts),
      user: next() < 0.05 ? null : pick(everyone).id,
    };
  });
  // Exactly at each period's cutoff of GOLDEN_NOW and just before it, and far from now: the windows' edges.
  const cutoffs = [1, 3, 7, 30, 365].map((days) => now - days * day);
  const edges = cutoffs.flatMap((cutoff) => [cutoff, cutoff - 1]).map((at) => new Date(at).toISOString());
  const far = ['1901-03-04T05:06:07Z', '2301-07-08T09:10:11Z'];
  for (const at of [...edges, ...far]) {
    executions.push({ id: uuid(next), start: at, end: at, status: 'FINISHED', script: pick(allScripts), user: pick(everyone).id });
    executions.push({ id: uuid(next), start: at, end: null, status: 'RUNNING', script: pick(allScripts), user: pick(everyone).id });
  }
  // Beyond 2^53 µs a Number holds only every other microsecond: read as Numbers, this run would
  // end in the next quarter-hour and last 8 µs, not 6 (only the exact int8 keeps both right).
  executions.push({
    id: uuid(next), start: '2301-07-08T09:14:59.999993', end: '2301-07-08T09:14:59.999999', status: 'FINISHED', script: pick(allScripts), user: pick(everyone).id,
  });
  await database.query(
    `INSERT INTO "user" (id, email, name, country, password, created_at)
     SELECT id, id::text || '@example.org', 'edge', 'Kenya', 'x', created FROM unnest($1::uuid[], $2::timestamp[]) AS t(id, created)`,
    [edges.map(() => uuid(next)), edges],
  );
  const column = <K extends keyof (typeof executions)[number]>(name: K) => executions.map((row) => row[name]);
  await database.query(
    `INSERT INTO execution (id, start_date, end_date, status, script_id, user_id)
     SELECT * FROM unnest($1::uuid[], $2::timestamp[], $3::timestamp[], $4::text[], $5::uuid[], $6::uuid[])`,
    [column('id'), column('start'), column('end'), column('status'), column('script'), column('user')],
  );
}

/** Every row, as the reference reads them: timestamps in µs since 2000-01-01, exactly. */
async function readRows(database: TestDatabase): Promise<Rows> {
  const micros = (column: string) => `(extract(epoch FROM ${column} - timestamp '2000-01-01') * 1000000)::bigint`;
  const number = (value: string | null) => (value === null ? null : Number(value));
  // Beyond ±2^53 µs only a bigint is exact.
  const exact = (value: string | null) => (value === null ? null : Number.isSafeInteger(Number(value)) ? Number(value) : BigInt(value));
  const scripts = await database.query('SELECT id::text AS id, slug FROM script');
  const users = await database.query(`SELECT id::text AS id, email, country, ${micros('created_at')} AS created FROM "user"`);
  const executions = await database.query(
    `SELECT ${micros('start_date')} AS start, ${micros('end_date')} AS "end", status, script_id::text AS script, user_id::text AS "user" FROM execution`,
  );
  return {
    scripts: scripts.rows.map((row) => ({ id: row.id, slug: row.slug })),
    users: users.rows.map((row) => ({ id: row.id, email: row.email, country: row.country, createdAt: number(row.created) })),
    executions: executions.rows.map(
      (row): ExecutionRow => ({ start: exact(row.start), end: exact(row.end), status: row.status, scriptId: row.script, userId: row.user }),
    ),
  };
}

/** A payload as stored, parsed, with the time series' dicts in key order (the API's own order there is PostgreSQL's hash order). */
function comparable(text: string): unknown {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const series = parsed.time_series as Array<Record<string, Record<string, number>>> | undefined;
  for (const point of series ?? []) {
    for (const name of ['by_status', 'by_task']) point[name] = Object.fromEntries(Object.entries(point[name]!).sort());
  }
  return parsed;
}

const EXTRA_REQUESTS = [
  'executions?period=all&group_by=week&task_type=_',
  'executions?period=last_year&group_by=month&task_type=%25',
  'executions?period=last_month&group_by=day&task_type=a_b',
  'executions?period=all&group_by=quarter_hour&task_type=pct%5C%25',
  'executions?period=last_week&group_by=hour&task_type=back%5C%5Cslash&status=FINISHED',
  'executions?period=last_day&group_by=day&task_type=sdg-15',
  'users?period=all&group_by=week&country=%20%20',
  'users?period=last_year&group_by=quarter_hour&country=C%C3%B4te%20d%E2%80%99Ivoire',
  'dashboard?period=last_day&include=summary',
];

describe('the pass answers as the contract defines, on the golden database and edge rows', () => {
  let database: TestDatabase;
  let rows: Rows;
  let db: ReturnType<typeof createDb>;
  const configs: StatsRequest[] = [
    ...requestsFor(['dashboard', 'executions', 'users']),
    ...parseBatchFile(readFileSync(REQUESTS_FILE, 'utf8'), 'requests.txt').flatMap(({ target }) => (target.kind === 'request' ? [target.request] : [])),
    ...EXTRA_REQUESTS.map((request) => parseRequest(request).request),
  ];

  beforeAll(async () => {
    database = await databaseFromTemplate(goldenTemplate(), 'run_pass');
    await addEdgeRows(database);
    rows = await readRows(database);
    db = createDb({ url: database.url, tls: parsePostgresTls(database.url, 'DATABASE_URL'), applicationName: 'stats-refresh-test', poolSize: 2 });
  });

  afterAll(async () => {
    await db?.db.destroy();
    await database?.drop();
  });

  it('has the rows it means to test', () => {
    expect(rows.executions.length).toBeGreaterThan(3000);
    expect(rows.executions.some((row) => row.start === null)).toBe(true);
    expect(rows.executions.some((row) => row.status === 'odd')).toBe(true);
    expect(new Set(configs.map(payloadKey)).size).toBeGreaterThan(45);
  });

  it.each(['2026-06-15T12:34:56Z', '2026-06-15T00:00:00Z', '2026-01-31T23:59:59.999Z', '2025-12-01T12:00:00Z'])(
    'every payload equals the reference at %s',
    async (instant) => {
      const now = new Date(instant);
      const { data, statements } = await loadRunData(planLoad(configs, now), { db: db.db, pool: db.pool }, {
        concurrency: 2,
        retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      });
      expect(data.failures).toEqual(new Map());
      expect(statements).toBe(4);
      const ours = new Assembler(data, now);
      const reference = new Assembler(referenceData(rows), now);
      for (const config of configs) {
        expect(comparable(ours.payload(config)), requestLabel(config)).toStrictEqual(comparable(reference.payload(config)));
      }
    },
  );
});

describe('a family run, in-process', () => {
  let database: TestDatabase;
  let server: RedisServer;
  let redis: TestRedisClient;

  beforeAll(async () => {
    database = await databaseFromTemplate(goldenTemplate(), 'run_family');
    server = await RedisServer.start();
    redis = await server.client();
  });

  afterAll(async () => {
    await redis?.close();
    await server?.stop();
    await database?.drop();
  });

  async function runtimeFor(url: string) {
    const runtime = await openRuntime(loadConfig({ databaseUrl: url, redisUrl: server.url(), now: GOLDEN_NOW, logLevel: 'silent' }, {}), {
      db: true,
      redis: true,
    });
    await runtime.checkReachable();
    return runtime;
  }

  it('writes the API\'s entries, records one result per config, and releases its locks', async () => {
    const runtime = await runtimeFor(database.url);
    try {
      const run = await runTargets(runtime, 'refresh all', resolveTargets(['all'], null), new AbortController().signal);
      expect(run.results).toHaveLength(26);
      expect(run.results.every((result) => result.error === null && result.origin === 'batch')).toBe(true);
      expect(run.families).toEqual(['dashboard', 'executions', 'users']);
      expect(summaryOf(run)).toMatchObject({ total_refreshed: 26, successful: 26, failed: 0 });
      expect([...summaryOf(run).cache_keys].sort()).toEqual([...GOLDEN_KEYS]);
    } finally {
      await runtime.close();
    }
    const written = await readKeys(redis, 'stats_service:*');
    for (const key of GOLDEN_KEYS) expect(JSON.parse(written.get(key)!), key).toStrictEqual(goldenValue(key));
    expect(await redis.keys('stats_refresh:lock:*')).toEqual([]);
    expect(await redis.hlen('stats_refresh:keys')).toBe(41);
  });

  it('skips a family whose lock another run holds, and runs the others', async () => {
    await redis.set('stats_refresh:lock:users', 'someone-else', 'PX', 60_000);
    const runtime = await runtimeFor(database.url);
    try {
      const run = await runTargets(runtime, 'refresh all', resolveTargets(['all'], null), new AbortController().signal);
      expect(run.skipped).toEqual(['users']);
      expect(run.families).toEqual(['dashboard', 'executions']);
      expect(run.results.some((result) => result.family === 'users')).toBe(false);
      expect(await redis.get('stats_refresh:lock:users')).toBe('someone-else');
    } finally {
      await runtime.close();
      await redis.del('stats_refresh:lock:users');
    }
  });

  it('fails exactly the configs built on a source that failed, and writes the others', async () => {
    const broken = await databaseFromTemplate(goldenTemplate(), 'run_broken');
    await broken.query('ALTER TABLE "user" DROP COLUMN country');
    await redis.flushdb();
    const runtime = await runtimeFor(broken.url);
    try {
      const run = await runTargets(runtime, 'refresh all', resolveTargets(['all'], null), new AbortController().signal);
      const failed = run.results.filter((result) => result.error !== null);
      // Declared: every config whose sections read "user".
      const onUserTable = run.results.filter((result) => sourcesOf(result.request).has('user_table'));
      expect(failed.map((result) => result.label).sort()).toEqual(onUserTable.map((result) => result.label).sort());
      expect(failed.length).toBe(16);
      for (const result of failed) expect(result.error?.message).toMatch(/query user_table failed: column "country" .*does not exist/);
      const written = await readKeys(redis, 'stats_service:get_*');
      expect(written.size).toBe(26 - 16);
    } finally {
      await runtime.close();
      await broken.drop();
    }
  });
});

describe('the runner with a cache that refuses some writes', () => {
  let database: TestDatabase;
  let db: ReturnType<typeof createDb>;

  beforeAll(async () => {
    database = await databaseFromTemplate(goldenTemplate(), 'run_fake_cache');
    db = createDb({ url: database.url, tls: parsePostgresTls(database.url, 'DATABASE_URL'), applicationName: 'stats-refresh-test', poolSize: 2 });
  });

  afterAll(async () => {
    await db?.db.destroy();
    await database?.drop();
  });

  it('fails the configs that read a key not written, keeps the rest, and records only what was written', async () => {
    const refused = 'stats_service:_get_geographic_data:period=last_year';
    const stored = new Map<string, string>();
    let metadata: Record<string, string> = {};
    const cache = {
      hgetall: async () => metadata,
      pipeline() {
        const queued: Array<() => [Error | null, unknown]> = [];
        const pipeline = {
          set(key: string, value: string) {
            queued.push(() => (key === refused ? [new Error('OOM command not allowed'), null] : (stored.set(key, value), [null, 'OK'])));
            return pipeline;
          },
          hset(_key: string, values: Record<string, string>) {
            queued.push(() => ((metadata = { ...metadata, ...values }), [null, 1]));
            return pipeline;
          },
          hdel: () => pipeline,
          exec: async () => queued.map((reply) => reply()),
        };
        return pipeline;
      },
    };
    const requests = requestsFor(['dashboard', 'users']).map((request) => ({ request, origin: 'batch' as const }));
    const reported: Array<Record<string, string>> = [];
    const reporter = { ...noReporter, report: (_message: string, context: Record<string, string>) => void reported.push(context) };
    const run = await runRefresh(
      { command: 'test', requests, families: ['dashboard', 'users'], now: new Date(GOLDEN_NOW), ttlSeconds: 300, concurrency: 2, dryRun: false, retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } },
      // No drift check in this run: the fake need not answer its commands.
      { db: db.db, pool: db.pool, cache: cache as unknown as RefreshDeps['cache'], logger: createLogger('silent'), reporter, secrets: [] },
    );
    const failed = run.results.filter((result) => result.error !== null).map((result) => result.label).sort();
    // The section's key is read by the last_year configs holding geographic: the dashboard's two and the users' two.
    expect(failed).toEqual(['dashboard/last_year[geographic,summary,tasks,trends]', 'dashboard/last_year[geographic,trends]', 'users/last_year/month', 'users/last_year/week']);
    for (const label of failed) {
      // The key not written is carried as data: reports and logs name it, not the payload's key.
      expect(run.results.find((result) => result.label === label)!.error).toEqual({
        kind: 'write',
        key: refused,
        message: `write failed for ${refused}: Redis refuses writes: it is out of memory (maxmemory reached with the 'noeviction' policy); raise maxmemory or let it evict`,
      });
    }
    expect(reported.map((context) => context.key)).toEqual(failed.map(() => refused));
    const payloads = [...stored.keys()].filter((key) => key.startsWith('stats_service:')).sort();
    // Every dashboard and users key but the refused one; the failed configs' own payloads are written.
    expect(payloads).toHaveLength(41 - 8 - 1);
    expect(stored.has(refused)).toBe(false);
    expect(Object.keys(metadata).sort()).toEqual(payloads);
    expect(summaryOf(run).cache_keys.sort()).toEqual(payloads);
    expect(JSON.parse(stored.get('stats_refresh:last_run:users')!)).toMatchObject({ successful: 4, failed: 2 });
  });

  it('a dry run computes every payload and writes nothing', async () => {
    const requests = requestsFor(['executions']).map((request) => ({ request, origin: 'batch' as const }));
    const run = await runRefresh(
      { command: 'test', requests, families: ['executions'], now: new Date(GOLDEN_NOW), ttlSeconds: 300, concurrency: 2, dryRun: true },
      { db: db.db, pool: db.pool, cache: null, logger: createLogger('silent'), reporter: noReporter, secrets: [] },
    );
    expect(run.payloads?.size).toBe(8);
    // The catalog, the script table, the execution pass and the top users' emails: each counted once.
    expect(run.statements).toBe(4);
    for (const [key, value] of run.payloads!) expect(JSON.parse(value), key).toStrictEqual(goldenValue(key));
  });
});
