/**
 * The drift check's state in Redis, under `stats_refresh:` so every CronJob and `schedule`
 * shares it: the endpoints found to differ from the API (and whose runs yield to it), value
 * differences waiting for proof that the data did not change, the history of the tables'
 * change counters that gives that proof, and which `stats_service:*` keys are ours.
 */
import type { Family } from '../requests/batches.js';
import { META_PREFIX } from './metadata.js';

export type DifferenceKind = 'structure' | 'format' | 'values';

/** How a payload the API stored differs from ours (src/stats/payload-diff.ts finds them). */
export interface Difference {
  readonly kind: DifferenceKind;
  /** e.g. `activity_stats.active_last_day`, `time_series[].timestamp`, `top_users[…].execution_count`. */
  readonly path: string;
  /** What differs, without any value that could be personal (emails, countries). */
  readonly detail: string;
}

/** Per table read, `n_tup_ins + n_tup_upd + n_tup_del` of pg_stat_user_tables; null for a view or a table without statistics. */
export type ChangeCounters = Readonly<Record<'execution' | 'user' | 'script', string | null>>;

/** Hash: endpoint → DriftRecord (JSON). */
export const DRIFT_KEY = `${META_PREFIX}drift`;
/** Hash: API key → PendingValues (JSON). */
export const PENDING_KEY = `${META_PREFIX}drift:pending`;
/** Hash: instant (ISO) → ChangeCounters (JSON). */
export const COUNTERS_KEY = `${META_PREFIX}counters`;

export interface DriftRecord {
  readonly endpoint: Family;
  /** The build that found it (see lib/version.ts): another build checks again. */
  readonly build: string;
  readonly detected_at: string;
  /** The API-written key that showed it. */
  readonly key: string;
  readonly differences: readonly Difference[];
}

/** Value differences found while the tables seemed still: drift once their counters prove it. */
export interface PendingValues {
  readonly endpoint: Family;
  readonly key: string;
  readonly differences: readonly Difference[];
  /** When they were found (the run's instant) and the counters then. */
  readonly found_at: string;
  readonly counters: ChangeCounters;
  /** The earliest instant the API's value may stem from: the counters must be unchanged since before it. */
  readonly since: string;
}

export interface CounterSample {
  readonly at: string;
  readonly counters: ChangeCounters;
}

/** The subset of a Redis client this needs. */
export interface DriftClient {
  hgetall(key: string): Promise<Record<string, string>>;
  eval(script: string, keys: number, ...args: Array<string | number>): Promise<unknown>;
  pipeline(): {
    hset(key: string, values: Record<string, string>): unknown;
    hdel(key: string, ...fields: string[]): unknown;
    get(key: string): unknown;
    exec(): Promise<Array<[Error | null, unknown]> | null>;
  };
}

function parse<T>(text: string | undefined, valid: (value: Partial<T>) => boolean): T | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<T>;
    return value !== null && typeof value === 'object' && valid(value) ? (value as T) : null;
  } catch {
    return null;
  }
}

export interface DriftState {
  readonly records: Map<Family, DriftRecord>;
  readonly pending: Map<string, PendingValues>;
  readonly history: CounterSample[];
}

/** Everything recorded; entries that do not read are left out (and overwritten or deleted later). */
export async function readDriftState(client: DriftClient): Promise<DriftState> {
  const [records, pending, counters] = await Promise.all([client.hgetall(DRIFT_KEY), client.hgetall(PENDING_KEY), client.hgetall(COUNTERS_KEY)]);
  return {
    records: new Map(
      Object.entries(records).flatMap(([endpoint, text]) => {
        const record = parse<DriftRecord>(text, (value) => typeof value.build === 'string' && Array.isArray(value.differences));
        return record ? [[endpoint as Family, record] as const] : [];
      }),
    ),
    pending: new Map(
      Object.entries(pending).flatMap(([key, text]) => {
        const entry = parse<PendingValues>(text, (value) => typeof value.found_at === 'string' && typeof value.since === 'string');
        return entry ? [[key, entry] as const] : [];
      }),
    ),
    history: Object.entries(counters)
      .flatMap(([at, text]) => {
        const sample = parse<ChangeCounters>(text, () => true);
        return sample && !Number.isNaN(Date.parse(at)) ? [{ at, counters: sample }] : [];
      })
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at)),
  };
}

async function exec(pipeline: { exec(): Promise<Array<[Error | null, unknown]> | null> }): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
  return replies.map(([, reply]) => reply);
}

/** What a run changes in the state, written in one round trip. */
export interface DriftUpdate {
  readonly record?: ReadonlyMap<Family, DriftRecord>;
  readonly forget?: readonly Family[];
  readonly pending?: ReadonlyMap<string, PendingValues>;
  readonly settle?: readonly string[];
  readonly sample?: CounterSample;
  /** Samples (their instants) to drop: older than any proof needs. */
  readonly prune?: readonly string[];
}

export async function writeDriftState(client: DriftClient, update: DriftUpdate): Promise<void> {
  const pipeline = client.pipeline();
  const json = (entries: Iterable<readonly [string, unknown]>) => Object.fromEntries([...entries].map(([field, value]) => [field, JSON.stringify(value)]));
  if (update.record?.size) pipeline.hset(DRIFT_KEY, json(update.record));
  if (update.forget?.length) pipeline.hdel(DRIFT_KEY, ...update.forget);
  if (update.pending?.size) pipeline.hset(PENDING_KEY, json(update.pending));
  if (update.settle?.length) pipeline.hdel(PENDING_KEY, ...update.settle);
  if (update.sample) pipeline.hset(COUNTERS_KEY, { [update.sample.at]: JSON.stringify(update.sample.counters) });
  if (update.prune?.length) pipeline.hdel(COUNTERS_KEY, ...update.prune);
  await exec(pipeline);
}

/** Forgets every drift record and pending difference (`clear --drift`); returns the endpoints forgotten. */
export async function forgetDrift(client: DriftClient): Promise<Family[]> {
  const { records, pending } = await readDriftState(client);
  await writeDriftState(client, { forget: [...records.keys()], settle: [...pending.keys()] });
  return [...records.keys()];
}

/** For each key: the SHA-1 of its value (null when absent) and its remaining life in ms (-1: none), in one round trip. */
const FINGERPRINT_SCRIPT = `
local result = {}
for index, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  result[2 * index - 1] = value and redis.sha1hex(value) or false
  result[2 * index] = redis.call('PTTL', key)
end
return result`;

export interface Fingerprint {
  readonly sha1: string | null;
  readonly pttlMs: number;
}

export async function fingerprints(client: DriftClient, keys: readonly string[]): Promise<Map<string, Fingerprint>> {
  const found = new Map<string, Fingerprint>();
  if (keys.length === 0) return found;
  const reply = (await client.eval(FINGERPRINT_SCRIPT, keys.length, ...keys)) as Array<string | null | number>;
  keys.forEach((key, index) => {
    const sha1 = reply[2 * index];
    found.set(key, { sha1: typeof sha1 === 'string' ? sha1 : null, pttlMs: Number(reply[2 * index + 1]) });
  });
  return found;
}

/** Deletes each key whose value still has the given SHA-1 (ours, not rewritten since); returns those deleted. */
const DELETE_IF_SCRIPT = `
local deleted = {}
for index, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and redis.sha1hex(value) == ARGV[index] then
    redis.call('DEL', key)
    deleted[#deleted + 1] = key
  end
end
return deleted`;

export async function deleteIfUnchanged(client: DriftClient, keys: ReadonlyMap<string, string>): Promise<string[]> {
  if (keys.size === 0) return [];
  return (await client.eval(DELETE_IF_SCRIPT, keys.size, ...keys.keys(), ...keys.values())) as string[];
}

/** The values of `keys`, in one round trip (null for a key gone since). */
export async function readValues(client: DriftClient, keys: readonly string[]): Promise<Array<string | null>> {
  if (keys.length === 0) return [];
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.get(key);
  return (await exec(pipeline)) as Array<string | null>;
}
