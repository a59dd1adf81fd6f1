/**
 * What each family's last successful run read, kept with the run metadata: the change
 * probe's fingerprint taken just before the run read its data, the instant its keys were
 * computed for, until when they stay exact with the data unchanged, the build, and a digest
 * of the keys written. A later one-shot run compares it with a new probe to skip an
 * unchanged family (src/run/unchanged.ts); `status` shows it; a scheduler may read it too.
 *
 * Layout: one hash, `stats_refresh:data_state`, one field per family, each a JSON DataState.
 */
import { createHash } from 'node:crypto';
import { FAMILIES, type Family } from '../requests/batches.js';
import { redisFailure } from './redis-client.js';
import { META_PREFIX } from './metadata.js';

/** Hash: family → JSON DataState. */
export const DATA_STATE_KEY = `${META_PREFIX}data_state`;

export interface DataState {
  /** fingerprintText() of the probe taken just before the run read its data. */
  readonly fingerprint: string;
  /** When a probe first saw this fingerprint: the last change seen (ISO). */
  readonly fingerprint_at: string;
  /** The instant the family's keys were computed for (ISO). */
  readonly now: string;
  /** The last millisecond at which those values stay exact if the data does not change (ISO); null: no time bound. */
  readonly valid_until: string | null;
  /** BUILD of the run that wrote them. */
  readonly build: string;
  /** keysDigest() of every key the family's requests read (payloads and the sections cached on their own). */
  readonly keys_digest: string;
}

/** The subset of a Redis client this module needs. */
export interface DataStateClient {
  hgetall(key: string): Promise<Record<string, string>>;
  pipeline(): {
    hset(key: string, values: Record<string, string>): unknown;
    hdel(key: string, ...fields: string[]): unknown;
    exec(): Promise<Array<[Error | null, unknown]> | null>;
  };
}

/** One digest for a set of keys, whatever their order. */
export function keysDigest(keys: Iterable<string>): string {
  return createHash('sha1')
    .update([...new Set(keys)].sort().join('\n'))
    .digest('hex');
}

/** A stored state, or null when the field holds anything else (then it is as good as absent). */
export function parseDataState(text: string | null | undefined): DataState | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<Record<keyof DataState, unknown>>;
    const strings = (['fingerprint', 'fingerprint_at', 'now', 'build', 'keys_digest'] as const).every((field) => typeof value?.[field] === 'string');
    const until = value?.valid_until === null || typeof value?.valid_until === 'string';
    return strings && until ? (value as DataState) : null;
  } catch {
    return null;
  }
}

/** Every family's stored state (null: none, or unreadable). */
export async function readDataStates(client: DataStateClient): Promise<Record<Family, DataState | null>> {
  const stored = await client.hgetall(DATA_STATE_KEY).catch((error: unknown) => {
    throw redisFailure(error, DATA_STATE_KEY);
  });
  return Object.fromEntries(FAMILIES.map((family) => [family, parseDataState(stored[family])])) as Record<Family, DataState | null>;
}

/** Stores the states given and forgets those of `forget` (families whose run gave no state to keep), in one round trip. */
export async function writeDataStates(client: DataStateClient, states: ReadonlyMap<Family, DataState>, forget: readonly Family[]): Promise<void> {
  if (states.size === 0 && forget.length === 0) return;
  const pipeline = client.pipeline();
  if (forget.length > 0) pipeline.hdel(DATA_STATE_KEY, ...forget);
  if (states.size > 0) pipeline.hset(DATA_STATE_KEY, Object.fromEntries([...states].map(([family, state]) => [family, JSON.stringify(state)])));
  const failed = ((await pipeline.exec()) ?? []).find(([error]) => error);
  if (failed) throw redisFailure(failed[0], DATA_STATE_KEY);
}
