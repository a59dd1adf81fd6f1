/**
 * Writing payloads to Redis. Each entry is one `SET key value EX ttl`, so a key holds
 * a whole payload or keeps its previous value; a run's entries go in one pipeline.
 */
import { sleep } from '../lib/async.js';
import { DEFAULT_RETRY, type RetryPolicy, backoffDelay, isTransient } from '../lib/retry.js';
import { redisFailure } from './redis-client.js';

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
    for (const entry of entries) failures.set(entry.key, redisFailure(error));
    return failures;
  }
  entries.forEach((entry, index) => {
    const [error, reply] = replies?.[index] ?? [new Error('no reply from Redis'), null];
    if (error) failures.set(entry.key, redisFailure(error));
    else if (reply !== 'OK') failures.set(entry.key, new Error(`unexpected reply from Redis: ${String(reply)}`));
  });
  return failures;
}
