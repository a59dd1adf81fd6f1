/**
 * The process's Redis client: created once per runtime, bounded (a command that gets no
 * answer drops the connection), and the translation of Redis failures into the operator's
 * words. Key scans (never KEYS) live here too: every reader of the API's key space uses them.
 */
import { Redis } from 'ioredis';
import type { CertificateFile } from './files.js';
import { redisTlsOption } from './tls.js';

/** A long-running process (schedule) keeps reconnecting, at most every 2 s. */
const LONG_RUNNING_RETRY_CAP_MS = 2_000;
/**
 * How long any command may wait for its reply. Past it Redis has gone silent (stopped,
 * stuck, a network that drops packets): the connection is dropped, so the commands behind
 * it fail at once instead of each waiting as long again.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000;

export interface RedisOptions {
  /** For rediss:// URLs: the CA of the server's certificate; null or absent: Node's bundled CAs. */
  readonly tlsCa?: CertificateFile | null;
  /** Every connection error, as it happens. */
  readonly onError?: (error: Error) => void;
  /** Once connected, reconnect forever (Redis restarted) instead of giving up after a few tries. */
  readonly longRunning?: boolean;
}

/** The client of the process: ioredis, plus the last connection error (a RedisSilentError when Redis went silent). */
export type RedisClient = Redis & { lastError(): Error | null };

const TIMED_OUT = 'Command timed out';
/** ioredis's ways of saying the connection is gone. */
const CONNECTION_LOST = /Stream isn't writeable|Connection is closed|max retries per request/i;

/**
 * A client that fails fast: a CLI run must not queue commands forever behind a dead
 * server. Connects lazily; call `connect()` to check reachability. A rediss:// URL always
 * checks the server's certificate and name: every command (writes, locks, metadata,
 * status, clear) goes through this one client.
 */
export function createRedis(url: string, options: RedisOptions = {}): RedisClient {
  const onError = options.onError ?? (() => undefined);
  let connectedOnce = false;
  let lastError: Error | null = null;
  const tls = redisTlsOption(url, options.tlsCa ?? null);
  const client = new BoundedRedis(url, {
    ...(tls ? { tls } : {}),
    lazyConnect: true,
    connectTimeout: 5_000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // Unreachable at start: give up at once (exit 3). Lost mid-run: a few quick reconnects,
    // or, for a long-running process, reconnects for as long as it runs.
    retryStrategy: (attempt) => {
      if (!connectedOnce) return null;
      if (options.longRunning) return Math.min(attempt * 100, LONG_RUNNING_RETRY_CAP_MS);
      return attempt > 3 ? null : attempt * 200;
    },
    connectionName: 'stats-refresh',
  });
  client.onTimeout = () => {
    const silent = new RedisSilentError(REDIS_COMMAND_TIMEOUT_MS);
    lastError = silent;
    onError(silent);
    // Everything waiting on this connection fails now, and says why.
    (client as unknown as { flushQueue(error: Error): void }).flushQueue(silent);
    // A one-shot run has nothing more to wait for; schedule reconnects (a stopped server
    // that continues answers the new connection).
    if (!options.longRunning) client.gone = silent;
    dropConnection(client, options.longRunning === true && connectedOnce);
  };
  client.on('ready', () => {
    connectedOnce = true;
    lastError = null;
  });
  // Without a listener ioredis prints every connection error to stderr itself.
  client.on('error', (error: Error) => {
    if (error.message === TIMED_OUT) return; // the ready check's; onTimeout tells
    // Dropping a silent connection fails what was queued on it: the silence is the cause.
    if (lastError instanceof RedisSilentError && CONNECTION_LOST.test(error.message)) return;
    lastError = error;
    onError(error);
  });
  // connect() only says "Connection is closed."; the cause came through the error event.
  return Object.assign(client, { lastError: () => lastError });
}

/**
 * Closes the connection without waiting for the server: a silent server never answers the
 * FIN that a plain disconnect waits for.
 */
export function dropConnection(client: Redis, reconnect = false): void {
  client.disconnect(reconnect);
  (client.stream as { destroy?: () => void } | undefined)?.destroy?.();
}

/** A command that timed out drops the connection (see REDIS_COMMAND_TIMEOUT_MS). */
class BoundedRedis extends Redis {
  onTimeout: () => void = () => undefined;
  /** One-shot: Redis went silent; every later command fails at once with that. */
  gone: Error | null = null;

  override sendCommand(...args: Parameters<Redis['sendCommand']>): ReturnType<Redis['sendCommand']> {
    const [command] = args;
    if (this.gone) {
      command.reject(this.gone);
      return command.promise;
    }
    command.promise.catch((error: Error) => {
      if (error.message === TIMED_OUT) this.onTimeout();
    });
    return super.sendCommand(...args);
  }
}

/** Redis accepted the connection but did not answer a command within its bound. */
export class RedisSilentError extends Error {
  override readonly name = 'RedisSilentError';
  constructor(timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs / 1000} s`);
  }
}

/** What a Redis error reply or a client failure means, in the operator's words. */
const REDIS_FAILURES: ReadonlyArray<readonly [RegExp, (key: string | undefined, message: string) => string]> = [
  [/^Command timed out/, () => `Redis did not answer within ${REDIS_COMMAND_TIMEOUT_MS / 1000} s`],
  [CONNECTION_LOST, () => 'the connection to Redis was lost'],
  [/^READONLY/, () => 'Redis refuses writes: it is a read-only replica; point REDIS_URL at the primary'],
  [/^OOM/, () => "Redis refuses writes: it is out of memory (maxmemory reached with the 'noeviction' policy); raise maxmemory or let it evict"],
  [/^MISCONF/, () => 'Redis refuses writes: it cannot save its data to disk (MISCONF); see the Redis server log'],
  [/^WRONGTYPE/, (key) => `${key ?? 'a key'} holds another kind of value than expected (WRONGTYPE); delete it (DEL ${key ?? '<key>'}): the next run writes it again`],
  [/^NOPERM/, (_, message) => `the Redis user may not do this (${message}); grant what docs/operations.md#least-privilege lists`],
  [/^LOADING/, () => 'Redis is loading its data from disk; it answers once loaded'],
];

/**
 * A Redis failure as an error that says what happened and what to do, naming `key` when
 * one is concerned; the library's error stays its cause (the retries read it).
 */
export function redisFailure(error: unknown, key?: string): Error {
  if (error instanceof RedisSilentError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const known = REDIS_FAILURES.find(([pattern]) => pattern.test(message));
  const text = known ? known[1](key, message) : message;
  return new Error(key && !text.includes(key) ? `${key}: ${text}` : text, { cause: error });
}

/** The subset of a Redis client a key scan needs. */
export interface ScanClient {
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
}

/** The keys matching `pattern`, a SCAN batch at a time (never KEYS: the API's Redis serves requests meanwhile). */
export async function* scanBatches(client: ScanClient, pattern: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    if (batch.length > 0) yield batch;
    cursor = next;
  } while (cursor !== '0');
}

/** Every key matching `pattern`, by SCAN. */
export async function scanKeys(client: ScanClient, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of scanBatches(client, pattern)) keys.push(...batch);
  return keys;
}
