/**
 * Test access to the real PostgreSQL and Redis: a template database per fixture,
 * a fresh database per test file, and a Redis logical database per test file.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { dropDatabase, withDatabase } from '../../tools/seed-lib.js';

export const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_HOST_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The golden fixture's template database, loaded once per test run (global-setup.ts); files copy it. */
export function goldenTemplate(): string {
  return inject('goldenTemplate');
}
export const GOLDEN_NOW = '2026-06-15T12:34:56Z';

/**
 * Redis logical databases, one per test file, so files running in parallel never see
 * each other's keys. Keep this list the only place numbers are handed out.
 */
export const REDIS_DBS = {
  golden: 1,
  goldenTimeZone: 2,
  cli: 3,
  isolation: 4,
  dryRun: 5,
  unreachable: 6,
  leastPrivilege: 7,
  rollbar: 8,
  operations: 9,
  faults: 10,
} as const;
// Also taken, outside vitest: 13 by scripts/smoke.sh, 15 by the benchmark (the container checks
// run their own redis-server).

export async function adminQuery(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

/** A fresh database copied from `template`, dropped by `drop()`. */
export async function databaseFromTemplate(template: string, label: string): Promise<TestDatabase> {
  const name = `sr_test_${label}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  const url = withDatabase(ADMIN_URL, name);
  return {
    name,
    url,
    async query(text, values) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return await client.query(text, values);
      } finally {
        await client.end();
      }
    },
    drop: () => dropDatabase(ADMIN_URL, name),
  };
}

export function redisUrl(db: number): string {
  return `${REDIS_HOST_URL}/${db}`;
}

/** A client on one logical database, emptied before use; `close()` empties it again. */
export async function redisDatabase(db: number): Promise<Redis & { close(): Promise<void> }> {
  const client = new Redis(redisUrl(db), { lazyConnect: true });
  await client.connect();
  await client.flushdb();
  return Object.assign(client, {
    async close() {
      await client.flushdb();
      await client.quit();
    },
  });
}

/** Every key and value under `pattern` in a Redis database. */
export async function readKeys(client: Redis, pattern = '*'): Promise<Map<string, string>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  const values = keys.length ? await client.mget(keys) : [];
  return new Map(keys.map((key, index) => [key, values[index] ?? '']));
}

/**
 * Makes every statement that reads `table` take `seconds` longer, once per statement:
 * the table becomes a view over its data behind a one-off sleep. Long enough runs for
 * tests that act while a run is in flight.
 */
export async function slowDown(database: TestDatabase, table: 'execution' | 'user', seconds: number): Promise<void> {
  await database.query(`
    CREATE OR REPLACE FUNCTION stall() RETURNS boolean LANGUAGE plpgsql VOLATILE AS
      $$ BEGIN PERFORM pg_sleep(${seconds}); RETURN true; END $$;
    ALTER TABLE "${table}" RENAME TO "${table}_data";
    CREATE VIEW "${table}" AS SELECT * FROM "${table}_data" WHERE (SELECT stall());`);
}

/**
 * Makes reading `table` take about `seconds` in all, spread over its rows: the table becomes a
 * view in which one row in a hundred (by id) waits, so a COPY of it streams slowly and can be
 * caught mid-way (pg_stat_progress_copy shows its progress).
 */
export async function slowRows(database: TestDatabase, table: 'execution' | 'user', seconds: number): Promise<void> {
  const { rows } = await database.query(`SELECT count(*)::int AS n FROM "${table}" WHERE hashtext(id::text) % 100 = 0`);
  const perRow = seconds / Math.max(1, rows[0].n as number);
  await database.query(`
    CREATE OR REPLACE FUNCTION stall_row() RETURNS boolean LANGUAGE plpgsql VOLATILE AS
      $$ BEGIN PERFORM pg_sleep(${perRow}); RETURN true; END $$;
    ALTER TABLE "${table}" RENAME TO "${table}_data";
    CREATE VIEW "${table}" AS SELECT * FROM "${table}_data" WHERE hashtext(id::text) % 100 <> 0 OR stall_row();`);
}

/** Waits until a COPY of this database's has sent at least one row; returns its backend's pid. */
export async function copyInProgress(database: TestDatabase, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await adminQuery(
      `SELECT p.pid FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
       WHERE p.datname = '${database.name}' AND p.tuples_processed > 0 AND a.application_name = 'stats-refresh'`,
    );
    if (rows.length > 0) return rows[0].pid as number;
    if (Date.now() > deadline) throw new Error(`no COPY in progress on ${database.name} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A private redis-server on its own port, for tests that stop it mid-run. */
export async function startPrivateRedis(): Promise<{ port: number; url(db?: number): string; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused until the server listens
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (error) {
      if (attempt > 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  probe.disconnect();
  return {
    port,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (server.exitCode !== null || server.signalCode !== null) return resolve();
        server.once('exit', () => resolve());
        server.kill('SIGKILL');
      }),
  };
}

/** A port nobody listens on right now (the server that takes it may still lose a race: callers retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
