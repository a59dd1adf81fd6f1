/**
 * Test access to the real PostgreSQL and Redis: a template database per fixture,
 * a fresh database per test file, and a Redis logical database per test file.
 */
import { randomBytes } from 'node:crypto';
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
} as const;

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
