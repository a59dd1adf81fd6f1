/**
 * Keeping keys whose values need no recomputing: what we recorded of each, then their TTL
 * renewed, each in one round trip (what each key holds: drift-store's `fingerprints`).
 */
import { redisFailure } from './redis-client.js';
import { KEY_META, type KeyMeta, parseKeyMeta } from './metadata.js';

/** The subset of a Redis client renewal needs. */
export interface RenewalClient {
  pipeline(): {
    hmget(key: string, ...fields: string[]): unknown;
    pexpire(key: string, milliseconds: number): unknown;
    hset(key: string, values: Record<string, string>): unknown;
    exec(): Promise<Array<[Error | null, unknown]> | null>;
  };
}

async function run(pipeline: ReturnType<RenewalClient['pipeline']>): Promise<unknown[]> {
  const replies =
    (await pipeline.exec().catch((error: unknown) => {
      throw redisFailure(error);
    })) ?? [];
  return replies.map(([error, reply]) => {
    if (error) throw redisFailure(error);
    return reply;
  });
}

/** What our metadata records of each key (null: nothing readable). */
export async function readKeyMetas(client: RenewalClient, keys: readonly string[]): Promise<Map<string, KeyMeta | null>> {
  if (keys.length === 0) return new Map();
  const pipeline = client.pipeline();
  pipeline.hmget(KEY_META, ...keys);
  const [metas] = (await run(pipeline)) as [Array<string | null>];
  return new Map(keys.map((key, index) => [key, parseKeyMeta(metas[index])]));
}

/**
 * Gives every key `ttlSeconds` more from now (PEXPIRE) and records the renewal in its metadata,
 * in one pipeline; returns the keys that were gone (PEXPIRE on no key does nothing).
 */
export async function renewKeys(
  client: RenewalClient,
  held: ReadonlyMap<string, KeyMeta>,
  ttlSeconds: number,
  renewedAt: Date,
): Promise<string[]> {
  if (held.size === 0) return [];
  const keys = [...held.keys()];
  const pipeline = client.pipeline();
  // PEXPIRE: the one expiry command the least-privilege ACL grants (docs/operations.md).
  for (const key of keys) pipeline.pexpire(key, ttlSeconds * 1000);
  pipeline.hset(
    KEY_META,
    Object.fromEntries(keys.map((key) => [key, JSON.stringify({ ...held.get(key)!, ttl_seconds: ttlSeconds, renewed_at: renewedAt.toISOString() })])),
  );
  const replies = await run(pipeline);
  return keys.filter((_, index) => replies[index] !== 1);
}
