/**
 * Run metadata, kept outside `stats_service:*` so the API's own cache listing and
 * clearing never see it: when each key was last written and how long it took to
 * compute, and each family's last run.
 */
import type { Family } from '../requests/batches.js';
import { redisFailure } from './redis-client.js';

export const META_PREFIX = 'stats_refresh:';
/** Hash: cache key → JSON KeyMeta. */
export const KEY_META = `${META_PREFIX}keys`;

export function lastRunKey(family: Family): string {
  return `${META_PREFIX}last_run:${family}`;
}

export interface KeyMeta {
  readonly written_at: string;
  readonly compute_ms: number;
  readonly ttl_seconds: number;
  /** The SHA-1 of the value written: a key holding another value is not ours (the API rewrote it). */
  readonly sha1?: string;
  /** The instant the value was computed for (the run's `now`, ISO). */
  readonly as_of?: string;
  /** When an unchanged run last renewed the key's TTL (ISO): the key lives ttl_seconds from then. */
  readonly renewed_at?: string;
}

export interface FamilyRun {
  readonly family: Family;
  readonly started_at: string;
  readonly duration_ms: number;
  readonly now: string;
  readonly successful: number;
  readonly failed: number;
  readonly failures: ReadonlyArray<{ config: string; error: string }>;
}

/** The subset of a Redis client metadata needs. */
export interface MetaClient {
  hgetall(key: string): Promise<Record<string, string>>;
  pipeline(): {
    hset(key: string, values: Record<string, string>): unknown;
    hdel(key: string, ...fields: string[]): unknown;
    set(key: string, value: string): unknown;
    exec(): Promise<Array<[Error | null, unknown]> | null>;
  };
}

/** Forgets what we recorded of keys we no longer hold (deleted, yielded to the API). */
export async function forgetKeys(client: MetaClient, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const pipeline = client.pipeline();
  pipeline.hdel(KEY_META, ...keys);
  const failed = ((await pipeline.exec()) ?? []).find(([error]) => error);
  if (failed) throw failed[0];
}

/** When a recorded write has expired (or cannot be read): its entry only takes room. */
function lapsed(text: string, nowMs: number): boolean {
  try {
    const { written_at, renewed_at, ttl_seconds } = JSON.parse(text) as Partial<KeyMeta>;
    const since = Math.max(Date.parse(String(written_at)), renewed_at === undefined ? Number.NEGATIVE_INFINITY : Date.parse(renewed_at));
    return !(since + Number(ttl_seconds) * 1000 > nowMs);
  } catch {
    return true;
  }
}

/**
 * Records written keys and the families' runs; best effort, the payloads are what matter.
 * Entries of writes that have expired are dropped, so one-off requests do not make
 * `stats_refresh:keys` grow for ever.
 */
export async function writeRunMetadata(
  client: MetaClient,
  keys: ReadonlyMap<string, KeyMeta>,
  runs: readonly FamilyRun[],
  nowMs: number = Date.now(),
): Promise<void> {
  const recorded = await client.hgetall(KEY_META).catch((error: unknown) => {
    throw redisFailure(error, KEY_META);
  });
  const expired = Object.keys(recorded).filter((key) => !keys.has(key) && lapsed(recorded[key]!, nowMs));
  const pipeline = client.pipeline();
  const written: string[] = [];
  if (expired.length > 0) {
    pipeline.hdel(KEY_META, ...expired);
    written.push(KEY_META);
  }
  if (keys.size > 0) {
    pipeline.hset(KEY_META, Object.fromEntries([...keys].map(([key, meta]) => [key, JSON.stringify(meta)])));
    written.push(KEY_META);
  }
  for (const run of runs) {
    pipeline.set(lastRunKey(run.family), JSON.stringify(run));
    written.push(lastRunKey(run.family));
  }
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.findIndex(([error]) => error);
  if (failed >= 0) throw redisFailure(replies[failed]![0], written[failed]);
}

/** A family's last run as recorded, or null when the key holds anything else. */
export function parseFamilyRun(text: string | null | undefined): FamilyRun | null {
  if (!text) return null;
  let value: Partial<Record<keyof FamilyRun, unknown>>;
  try {
    value = JSON.parse(text) as typeof value;
  } catch {
    return null;
  }
  const ok =
    value !== null &&
    typeof value === 'object' &&
    typeof value.family === 'string' &&
    typeof value.started_at === 'string' &&
    typeof value.now === 'string' &&
    Number.isFinite(value.duration_ms) &&
    Number.isFinite(value.successful) &&
    Number.isFinite(value.failed) &&
    Array.isArray(value.failures);
  return ok ? (value as FamilyRun) : null;
}

/** A key's recorded write, or null when the entry holds anything else. */
export function parseKeyMeta(text: string | null | undefined): KeyMeta | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<Record<keyof KeyMeta, unknown>>;
    return value !== null && typeof value === 'object' && typeof value.written_at === 'string' && Number.isFinite(value.compute_ms) && Number.isFinite(value.ttl_seconds)
      ? (value as KeyMeta)
      : null;
  } catch {
    return null;
  }
}

/** The subset of a Redis client reading the families' last runs needs. */
export interface LastRunClient {
  pipeline(): { get(key: string): unknown; exec(): Promise<Array<[Error | null, unknown]> | null> };
}

/**
 * When each family last finished a run with every config written, as recorded in Redis by
 * whichever process ran it (null: no such record, a failed run, or a record of another shape).
 */
export async function readLastSuccesses(client: LastRunClient, families: readonly Family[]): Promise<Map<Family, number | null>> {
  // GET each (one round trip), not MGET: the least-privilege ACL grants GET only.
  const pipeline = client.pipeline();
  for (const family of families) pipeline.get(lastRunKey(family));
  const replies = (await pipeline.exec()) ?? [];
  // A record refused (another type of key: status names it) is no success, not a failed check.
  const texts = families.map((_, index) => {
    const text = replies[index]?.[1];
    return typeof text === 'string' ? text : null;
  });
  return new Map(
    families.map((family, index) => {
      const run = parseFamilyRun(texts[index]);
      const finishedAt = run && run.failed === 0 && run.successful > 0 ? Date.parse(run.started_at) + run.duration_ms : Number.NaN;
      return [family, Number.isFinite(finishedAt) ? finishedAt : null];
    }),
  );
}
