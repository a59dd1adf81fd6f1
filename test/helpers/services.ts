/**
 * Test access to the real PostgreSQL and Redis: a template database per fixture and a
 * fresh database per test file (a test file's Redis is a server of its own: redis-server.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { dropDatabase, withDatabase } from '../../tools/seed-lib.js';

export const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The golden fixture's template database, loaded once per test run (global-setup.ts); files copy it. */
export function goldenTemplate(): string {
  return inject('goldenTemplate');
}
export const GOLDEN_NOW = '2026-06-15T12:34:56Z';

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
