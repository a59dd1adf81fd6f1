/**
 * The values schedule's runs last wrote, kept in memory with their expiry, so that keys
 * lost to a flush, a restart or an eviction are back within one round trip, while the
 * family's refresh computes fresh ones (seconds on a large database). A restored key keeps
 * the value and the expiry it had; one that a client wrote meanwhile is left alone (NX).
 */

/** The subset of a Redis client this needs. */
export interface ValuesClient {
  pipeline(): {
    get(key: string): unknown;
    pttl(key: string): unknown;
    set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): unknown;
    exec(): Promise<Array<[Error | null, unknown]> | null>;
  };
}

interface Kept {
  readonly value: string;
  readonly expiresAt: number;
}

/** Restoring a key about to expire anyway is pointless. */
const MIN_LIFE_MS = 1_000;

export class LastValues {
  private readonly kept = new Map<string, Kept>();

  /** Reads back the keys a run wrote (one round trip). Best effort: a failure only leaves older values. */
  async capture(client: ValuesClient, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const pipeline = client.pipeline();
    for (const key of keys) {
      pipeline.get(key);
      pipeline.pttl(key);
    }
    const replies = (await pipeline.exec()) ?? [];
    const now = Date.now();
    keys.forEach((key, index) => {
      const [valueError, value] = replies[2 * index] ?? [new Error('no reply'), null];
      const [ttlError, ttl] = replies[2 * index + 1] ?? [new Error('no reply'), null];
      if (valueError || ttlError || typeof value !== 'string' || typeof ttl !== 'number' || ttl <= 0) return;
      this.kept.set(key, { value, expiresAt: now + ttl });
    });
  }

  /** Writes back those of `keys` still valid (SET … PX remaining NX); returns how many were set. */
  async restore(client: ValuesClient, keys: readonly string[]): Promise<number> {
    const now = Date.now();
    const restorable = keys.filter((key) => (this.kept.get(key)?.expiresAt ?? 0) - now > MIN_LIFE_MS);
    if (restorable.length === 0) return 0;
    const pipeline = client.pipeline();
    for (const key of restorable) {
      const { value, expiresAt } = this.kept.get(key)!;
      pipeline.set(key, value, 'PX', expiresAt - now, 'NX');
    }
    const replies = (await pipeline.exec()) ?? [];
    return replies.filter(([error, reply]) => !error && reply === 'OK').length;
  }
}
