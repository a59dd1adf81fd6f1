/**
 * One run per family at a time, across pods and shells: a Redis lock per family
 * (`SET NX PX` with a random token), renewed while the run lasts, released only by its
 * owner, and lapsing on its own if the owner dies.
 */
import { randomUUID } from 'node:crypto';
import { sleep } from '../lib/async.js';

export const LOCK_PREFIX = 'stats_refresh:lock:';

/** Deletes or extends the lock only if it still holds our token. */
export const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Gives a lock with no expiry one (no run of ours sets such a lock: it was set by hand, and would never lapse). */
const EXPIRE_SCRIPT = `if redis.call('pttl', KEYS[1]) == -1 then return redis.call('pexpire', KEYS[1], ARGV[1]) else return 0 end`;

/** The subset of a Redis client the lock needs. */
export interface LockClient {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<string | null>;
  eval(script: string, keys: number, ...args: Array<string | number>): Promise<unknown>;
}

export interface HeldLock {
  readonly key: string;
  /** Stops renewing and deletes the lock if it is still ours. */
  release(): Promise<void>;
}

export function lockKey(name: string): string {
  return `${LOCK_PREFIX}${name}`;
}

export interface LockOptions {
  /** Hears of a lock found without an expiry, which has just been given one of `ttlMs`. */
  readonly onNoExpiry?: (key: string) => void;
}

/** Takes the lock `name` or returns null when someone else holds it. */
export async function tryLock(client: LockClient, name: string, ttlMs: number, options: LockOptions = {}): Promise<HeldLock | null> {
  const key = lockKey(name);
  const token = randomUUID();
  if ((await client.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') {
    if ((await client.eval(EXPIRE_SCRIPT, 1, key, ttlMs)) === 1) options.onNoExpiry?.(key);
    return null;
  }
  const renewal = setInterval(() => {
    client.eval(RENEW_SCRIPT, 1, key, token, ttlMs).catch(() => undefined);
  }, Math.max(100, Math.floor(ttlMs / 3)));
  renewal.unref();
  return {
    key,
    async release() {
      clearInterval(renewal);
      await client.eval(RELEASE_SCRIPT, 1, key, token);
    },
  };
}

/** Polls for the lock (with jitter) until taken, `timeoutMs` has passed or `signal` aborts. */
export async function waitForLock(
  client: LockClient,
  name: string,
  ttlMs: number,
  timeoutMs: number,
  signal?: AbortSignal,
  options: LockOptions = {},
): Promise<HeldLock | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lock = await tryLock(client, name, ttlMs, options);
    if (lock || Date.now() >= deadline || signal?.aborted) return lock;
    await sleep(Math.min(200 + Math.random() * 300, deadline - Date.now()), signal);
  }
}
