/**
 * Opening and checking the run's connections, and closing them last-in-first-out.
 */
import type pg from 'pg';
import { type RedisClient, createRedis, dropConnection, redisFailure } from './redis-client.js';
import { type PgConnectionOptions, createDb, type Db } from './db.js';
import { UnreachableError, errorMessage } from '../lib/errors.js';
import { FAMILIES } from '../requests/batches.js';
import { redact, safeUrl } from '../lib/redact.js';
import type { CertificateFile } from './files.js';
import { type PostgresTls, describeTlsFailure } from './tls.js';

/** What opening the connections needs of the configuration. */
export interface ConnectionSettings {
  /** As given, TLS parameters included (messages show it, password hidden). */
  readonly databaseUrl: string;
  readonly databaseTls: PostgresTls;
  readonly redisUrl: string;
  readonly redisTlsCa: CertificateFile | null;
  readonly statementTimeoutMs: number;
  /** Statements a run sends at once: the pool's size. */
  readonly concurrency: number;
}

/**
 * The run's connections. `R` says whether Redis was asked for: `true` types `redis` as
 * present, `boolean` (known only at run time, as a dry run decides) as possibly null.
 */
export interface Connections<out R extends boolean = boolean> {
  readonly db: Db;
  readonly pool: pg.Pool;
  /** Bytes received from PostgreSQL so far, over every connection the pool opened. */
  dbBytesReceived(): number;
  readonly redis: R extends true ? RedisClient : RedisClient | null;
  /**
   * The end of a grace period: every PostgreSQL connection is dropped and the pool closed
   * (whatever waits on PostgreSQL fails now, and no statement can start again, not even a
   * retry); Redis is dropped only if it does not answer a PING within CUT_PING_MS, so a
   * Redis that still answers takes the last writes and the lock releases.
   */
  cut(): void;
  close(): Promise<void>;
}

export const APPLICATION_NAME = 'stats-refresh';

/** At the grace cut, how long Redis has to answer a PING before it is dropped too. */
export const CUT_PING_MS = 1_000;

/** Whether Redis answers a PING within `ms` (a client not connected does not). */
async function answersWithin(redis: RedisClient, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([redis.ping().then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** How this run connects to PostgreSQL, for the pool and for any extra client. */
export function pgOptionsOf(config: ConnectionSettings): PgConnectionOptions {
  return {
    url: config.databaseUrl,
    tls: config.databaseTls,
    applicationName: APPLICATION_NAME,
    statementTimeoutMs: config.statementTimeoutMs,
  };
}

/**
 * `longRunning` (schedule): Redis reconnects for as long as the process runs, and the pool
 * has room for a run of every family at once (up to families × concurrency connections,
 * what three CronJobs firing together would open).
 */
export function openConnections<R extends boolean>(
  config: ConnectionSettings,
  options: { needRedis: R; onRedisError?: (error: Error) => void; longRunning?: boolean },
): Connections<R> {
  const pgOptions = pgOptionsOf(config);
  const { db, pool } = createDb({ ...pgOptions, poolSize: config.concurrency * (options.longRunning ? FAMILIES.length : 1) });
  const redis = options.needRedis
    ? createRedis(config.redisUrl, {
        tlsCa: config.redisTlsCa,
        longRunning: options.longRunning === true,
        ...(options.onRedisError ? { onError: options.onRedisError } : {}),
      })
    : null;
  const sockets: Array<{ readonly bytesRead: number; destroy(): void }> = [];
  pool.on('connect', (client) => sockets.push((client as unknown as { connection: { stream: (typeof sockets)[number] } }).connection.stream));
  return {
    db,
    pool,
    // A client exactly when `needRedis` asked for one, which is what Connections<R> says.
    redis: redis as Connections<R>['redis'],
    dbBytesReceived: () => sockets.reduce((sum, socket) => sum + socket.bytesRead, 0),
    cut() {
      // Ended first: a statement failing on its lost connection must not be retried on a new one.
      if (!pool.ending) pool.end().catch(() => undefined);
      // A statement still running fails on its lost connection and its client leaves the pool.
      for (const socket of sockets) socket.destroy();
      if (redis) void answersWithin(redis, CUT_PING_MS).then((answers) => answers || dropConnection(redis));
    },
    async close() {
      // QUIT lets pending replies arrive; a client that never connected has nothing to close
      // (disconnect() would hold the process for ioredis's 2 s socket timer).
      if (redis?.status === 'ready') await redis.quit().catch(() => dropConnection(redis));
      else if (redis && redis.status !== 'end' && redis.status !== 'wait') redis.disconnect();
      await db.destroy().catch(() => undefined);
      // Kysely ends the pool only if it ever queried through it; the reachability check may be all there was.
      if (!pool.ending) await pool.end().catch(() => undefined);
    },
  };
}

function reason(error: unknown, secrets: readonly string[], message = errorMessage(error, secrets)): string {
  const { code } = error as { code?: string };
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  } catch {
    return 'the server';
  }
}

/** Why PostgreSQL refused, with the TLS setting to change when TLS is the cause. */
function postgresReason(error: unknown, config: ConnectionSettings, secrets: readonly string[]): string {
  const tls = describeTlsFailure(error, {
    host: hostOf(config.databaseUrl),
    trust: 'set sslrootcert=<CA file> in DATABASE_URL',
    skipName: 'use sslmode=verify-ca',
  });
  if (tls) return redact(tls, secrets);
  const { message } = error as { message?: string };
  if (message === 'The server does not support SSL connections') {
    return `the server does not offer TLS but sslmode=${config.databaseTls.mode} requires it; enable ssl on the server, or use sslmode=disable`;
  }
  const text = reason(error, secrets);
  // pg_hba.conf has only hostssl lines for us: say which setting turns TLS on.
  if (config.databaseTls.mode === 'disable' && /no encryption/.test(text)) {
    return `${text}; the server requires TLS: add sslmode=verify-full&sslrootcert=<CA file> to DATABASE_URL`;
  }
  return text;
}

function redisReason(error: unknown, config: ConnectionSettings, secrets: readonly string[]): string {
  const tls = describeTlsFailure(error, {
    host: hostOf(config.redisUrl),
    trust: "set REDIS_TLS_CA_FILE or --redis-tls-ca-file to the server's CA file",
  });
  if (tls) return redact(tls, secrets);
  const text = reason(error, secrets, errorMessage(redisFailure(error), secrets));
  // A TLS-only port resets a plaintext client; a plaintext port never answers a TLS hello.
  const { code } = error as { code?: string };
  const secure = new URL(config.redisUrl).protocol === 'rediss:';
  if (!secure && code === 'ECONNRESET') return `${text}; if the server only speaks TLS, use a rediss:// URL`;
  if (secure && (code === 'ETIMEDOUT' || code === 'ECONNRESET' || code === 'EPROTO')) {
    return `${text}; if this port does not speak TLS, use a redis:// URL`;
  }
  return text;
}

/** Fails with UnreachableError, naming the setting to fix, unless the services needed answer. */
export async function checkReachable(
  connections: Connections,
  config: ConnectionSettings,
  secrets: readonly string[],
  needs: { db: boolean } = { db: true },
): Promise<void> {
  if (needs.db) await checkPostgres(connections, config, secrets);
  await checkRedis(connections, config, secrets);
}

async function checkPostgres(connections: Connections, config: ConnectionSettings, secrets: readonly string[]): Promise<void> {
  try {
    const client = await connections.pool.connect();
    try {
      await client.query('SELECT 1');
    } finally {
      client.release();
    }
  } catch (error) {
    throw new UnreachableError(
      `PostgreSQL at ${safeUrl(config.databaseUrl)} is unreachable (${postgresReason(error, config, secrets)}); check DATABASE_URL or --database-url`,
    );
  }
}

async function checkRedis(connections: Connections, config: ConnectionSettings, secrets: readonly string[]): Promise<void> {
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
      `Redis at ${safeUrl(config.redisUrl)} is unreachable (${redisReason(cause, config, secrets)}); check REDIS_URL or --redis-url`,
    );
  }
}
