/**
 * Writing payloads to Redis. Each entry is one `SET key value EX ttl`, so a key holds
 * a whole payload or keeps its previous value; a run's entries go in one pipeline.
 */
import { Redis } from 'ioredis';
import { sleep } from '../lib/async.js';
import { DEFAULT_RETRY, type RetryPolicy, backoffDelay, isTransient } from '../lib/retry.js';
import type { CertificateFile } from './files.js';
import { redisTlsOption } from './tls.js';

/** The subset of a Redis client the writer needs. */
export interface CacheClient {
  pipeline(): {
    set(key: string, value: string, mode: 'EX', seconds: number): unknown;
    exec(): Promise<Array<[Error | null, unknown]> | null>;
  };
}

export interface CacheEntry {
  readonly key: string;
  readonly value: string;
}

/**
 * Writes every entry, retrying keys that failed transiently (Redis reconnecting);
 * returns the error of each key finally not written.
 */
export async function writeEntries(
  client: CacheClient,
  entries: readonly CacheEntry[],
  ttlSeconds: number,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<Map<string, Error>> {
  const failures = new Map<string, Error>();
  let pending = entries;
  for (let attempt = 1; ; attempt++) {
    const round = await writeOnce(client, pending, ttlSeconds);
    for (const { key } of pending) {
      const error = round.get(key);
      if (error) failures.set(key, error);
      else failures.delete(key);
    }
    pending = pending.filter((entry) => isTransient(round.get(entry.key)));
    if (pending.length === 0 || attempt >= policy.attempts) return failures;
    await sleep(backoffDelay(attempt, policy));
  }
}

async function writeOnce(
  client: CacheClient,
  entries: readonly CacheEntry[],
  ttlSeconds: number,
): Promise<Map<string, Error>> {
  const failures = new Map<string, Error>();
  if (entries.length === 0) return failures;
  const pipeline = client.pipeline();
  for (const entry of entries) pipeline.set(entry.key, entry.value, 'EX', ttlSeconds);
  let replies: Array<[Error | null, unknown]> | null;
  try {
    replies = await pipeline.exec();
  } catch (error) {
    for (const entry of entries) failures.set(entry.key, error as Error);
    return failures;
  }
  entries.forEach((entry, index) => {
    const [error, reply] = replies?.[index] ?? [new Error('no reply from Redis'), null];
    if (error) failures.set(entry.key, error);
    else if (reply !== 'OK') failures.set(entry.key, new Error(`unexpected reply from Redis: ${String(reply)}`));
  });
  return failures;
}

/** A long-running process (schedule) keeps reconnecting, at most every 2 s, and bounds every command. */
const LONG_RUNNING_RETRY_CAP_MS = 2_000;
const LONG_RUNNING_COMMAND_TIMEOUT_MS = 10_000;

export interface RedisOptions {
  /** For rediss:// URLs: the CA of the server's certificate; null or absent: Node's bundled CAs. */
  readonly tlsCa?: CertificateFile | null;
  /** Every connection error, as it happens. */
  readonly onError?: (error: Error) => void;
  /** Once connected, reconnect forever (Redis restarted) instead of giving up after a few tries. */
  readonly longRunning?: boolean;
}

/**
 * A client that fails fast: a CLI run must not queue commands forever behind a dead
 * server. Connects lazily; call `connect()` to check reachability. A rediss:// URL always
 * checks the server's certificate and name: every command (writes, locks, metadata,
 * status, clear) goes through this one client.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis & { lastError(): Error | null } {
  const onError = options.onError ?? (() => undefined);
  let connectedOnce = false;
  let lastError: Error | null = null;
  const tls = redisTlsOption(url, options.tlsCa ?? null);
  const client = new Redis(url, {
    ...(tls ? { tls } : {}),
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // Unreachable at start: give up at once (exit 3). Lost mid-run: a few quick reconnects,
    // or, for a long-running process, reconnects for as long as it runs.
    retryStrategy: (attempt) => {
      if (!connectedOnce) return null;
      if (options.longRunning) return Math.min(attempt * 100, LONG_RUNNING_RETRY_CAP_MS);
      return attempt > 3 ? null : attempt * 200;
    },
    ...(options.longRunning ? { commandTimeout: LONG_RUNNING_COMMAND_TIMEOUT_MS } : {}),
    connectionName: 'stats-refresh',
  });
  client.on('ready', () => {
    connectedOnce = true;
  });
  // Without a listener ioredis prints every connection error to stderr itself.
  client.on('error', (error: Error) => {
    lastError = error;
    onError(error);
  });
  // connect() only says "Connection is closed."; the cause came through the error event.
  return Object.assign(client, { lastError: () => lastError });
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
