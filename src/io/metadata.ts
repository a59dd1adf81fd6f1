/**
 * Run metadata, kept outside `stats_service:*` so the API's own cache listing and
 * clearing never see it: when each key was last written and how long it took to
 * compute, and each family's last run.
 */
import type { Family } from '../requests/batches.js';

export const META_PREFIX = 'stats_refresh:';
/** Hash: cache key → JSON {written_at, compute_ms, ttl_seconds}. */
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

/** Records written keys and the families' runs; best effort, the payloads are what matter. */
export async function writeRunMetadata(
  client: MetaClient,
  keys: ReadonlyMap<string, KeyMeta>,
  runs: readonly FamilyRun[],
): Promise<void> {
  const pipeline = client.pipeline();
  if (keys.size > 0) {
    pipeline.hset(KEY_META, Object.fromEntries([...keys].map(([key, meta]) => [key, JSON.stringify(meta)])));
  }
  for (const run of runs) pipeline.set(lastRunKey(run.family), JSON.stringify(run));
  const failed = ((await pipeline.exec()) ?? []).find(([error]) => error);
  if (failed) throw failed[0];
}
