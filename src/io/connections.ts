/**
 * Opening and checking the run's connections, and closing them last-in-first-out.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { createRedis } from './cache.js';
import type { Config } from '../config.js';
import { createDb, type Db } from './db.js';
import { UnreachableError } from '../errors.js';
import { FAMILIES } from '../requests/batches.js';
import { redact, safeUrl } from '../lib/redact.js';

export interface Connections {
  readonly db: Db;
  readonly pool: pg.Pool;
  readonly redis: (Redis & { lastError(): Error | null }) | null;
  close(): Promise<void>;
}

export const APPLICATION_NAME = 'stats-refresh';

/**
 * `longRunning` (schedule): Redis reconnects for as long as the process runs, and the pool
 * has room for a run of every family at once (up to families × concurrency connections,
 * what three CronJobs firing together would open).
 */
export function openConnections(
  config: Config,
  options: { needRedis: boolean; onRedisError?: (error: Error) => void; longRunning?: boolean },
): Connections {
  const { db, pool } = createDb({
    url: config.databaseUrl,
    poolSize: config.concurrency * (options.longRunning ? FAMILIES.length : 1),
    applicationName: APPLICATION_NAME,
    statementTimeoutMs: config.statementTimeoutMs,
  });
  const redis = options.needRedis
    ? createRedis(config.redisUrl, options.onRedisError, { longRunning: options.longRunning === true })
    : null;
  return {
    db,
    pool,
    redis,
    async close() {
      // QUIT lets pending replies arrive; a client that never connected has nothing to close
      // (disconnect() would hold the process for ioredis's 2 s socket timer).
      if (redis?.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else if (redis && redis.status !== 'end' && redis.status !== 'wait') redis.disconnect();
      await db.destroy().catch(() => undefined);
      // Kysely ends the pool only if it ever queried through it; the reachability check may be all there was.
      if (!pool.ended) await pool.end().catch(() => undefined);
    },
  };
}

function reason(error: unknown, secrets: readonly string[]): string {
  const err = error as { code?: string; message?: string };
  const message = redact(err.message || String(error), secrets).split('\n')[0];
  return err.code && !message?.includes(err.code) ? `${err.code}: ${message}` : message ?? 'unknown error';
}

/** Fails with UnreachableError, naming the setting to fix, unless the services needed answer. */
export async function checkReachable(
  connections: Connections,
  config: Config,
  secrets: readonly string[],
  needs: { db: boolean } = { db: true },
): Promise<void> {
  if (needs.db) await checkPostgres(connections, config, secrets);
  await checkRedis(connections, config, secrets);
}

async function checkPostgres(connections: Connections, config: Config, secrets: readonly string[]): Promise<void> {
  try {
    const client = await connections.pool.connect();
    try {
      await client.query('SELECT 1');
    } finally {
      client.release();
    }
  } catch (error) {
    throw new UnreachableError(
      `PostgreSQL at ${safeUrl(config.databaseUrl)} is unreachable (${reason(error, secrets)}); check DATABASE_URL or --database-url`,
    );
  }
}

async function checkRedis(connections: Connections, config: Config, secrets: readonly string[]): Promise<void> {
  if (!connections.redis) return;
  try {
    if (connections.redis.status !== 'ready') await connections.redis.connect();
    await connections.redis.ping();
    // ioredis only emits an error when the SELECT it sends on connect is refused, then
    // carries on in database 0: select again here so a refusal stops the command.
    const db = connections.redis.options.db ?? 0;
    if (db !== 0) await connections.redis.select(db);
  } catch (error) {
    const cause = connections.redis.lastError() ?? error;
    throw new UnreachableError(
      `Redis at ${safeUrl(config.redisUrl)} is unreachable (${reason(cause, secrets)}); check REDIS_URL or --redis-url`,
    );
  }
}
