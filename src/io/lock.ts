/**
 * One run per family at a time, across pods and shells: a Redis lock per family
 * (`SET NX PX` with a random token), renewed while the run lasts (never past its deadline),
 * released only by its owner, and lapsing on its own if the owner dies or is stuck.
 */
import { randomUUID } from 'node:crypto';
import { sleep } from '../lib/async.js';

export const LOCK_PREFIX = 'stats_refresh:lock:';

/** Deletes or extends the lock only if it still holds our token. */
export const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Gives a lock with no expiry one (no run of ours sets such a lock: it was set by hand, and would never lapse). */
const EXPIRE_SCRIPT = `if redis.call('pttl', KEYS[1]) == -1 then return redis.call('pexpire', KEYS[1], ARGV[1]) else return 0 end`;
/** Takes over the lock when it holds one of our unsettled tokens (ARGV[3…]): ARGV[1] becomes its token, for ARGV[2] ms. */
const ADOPT_SCRIPT = `local held = redis.call('get', KEYS[1])
for i = 3, #ARGV do
  if held == ARGV[i] then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
end
return 0`;

/** Unsettled tokens kept per lock: enough for several stalls in a row, bounded all the same. */
const MAX_UNSETTLED = 16;

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
  /**
   * Renewals stop this long after the lock was taken (the run's deadline): a run stuck past
   * it no longer keeps the family from everyone else; its lock lapses `ttlMs` later.
   */
  readonly maxHoldMs?: number;
}

/**
 * Tokens of lock attempts whose outcome is unknown (the SET NX timed out or its connection
 * dropped), per client and lock key. Redis may still run such a SET when it resumes, leaving
 * our own token in the key: the next attempt recognises it as ours instead of skipping the
 * family for the lock's whole life.
 */
const unsettled = new WeakMap<LockClient, Map<string, string[]>>();

function unsettledOf(client: LockClient, key: string): string[] {
  let byKey = unsettled.get(client);
  if (!byKey) unsettled.set(client, (byKey = new Map()));
  let tokens = byKey.get(key);
  if (!tokens) byKey.set(key, (tokens = []));
  return tokens;
}

/** SET NX, or the adoption of a lock an earlier attempt of ours left; whether `token` now holds the lock. */
async function acquire(client: LockClient, key: string, token: string, ttlMs: number): Promise<boolean> {
  const tokens = unsettledOf(client, key);
  let reply: string | null;
  try {
    reply = await client.set(key, token, 'PX', ttlMs, 'NX');
  } catch (error) {
    tokens.push(token);
    tokens.splice(0, Math.max(0, tokens.length - MAX_UNSETTLED));
    throw error;
  }
  if (reply === 'OK') return true;
  if (tokens.length === 0) return false;
  // Kept after an adoption: another of them may still be waiting in a stalled Redis.
  return (await client.eval(ADOPT_SCRIPT, 1, key, token, ttlMs, ...tokens)) === 1;
}

/** Takes the lock `name` or returns null when someone else holds it. */
export async function tryLock(client: LockClient, name: string, ttlMs: number, options: LockOptions = {}): Promise<HeldLock | null> {
  const key = lockKey(name);
  const token = randomUUID();
  if (!(await acquire(client, key, token, ttlMs))) {
    if ((await client.eval(EXPIRE_SCRIPT, 1, key, ttlMs)) === 1) options.onNoExpiry?.(key);
    return null;
  }
  const renewUntil = options.maxHoldMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.maxHoldMs;
  const renewal = setInterval(() => {
    if (Date.now() >= renewUntil) return clearInterval(renewal);
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
