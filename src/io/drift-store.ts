/**
 * The drift check's I/O with Redis. Its state lives under `stats_refresh:` so every CronJob
 * and `schedule` shares it: the endpoints found to differ from the API (and whose runs yield
 * to it), differences waiting for proof or corroboration, and the history of the tables'
 * change counters that gives the proof. It also reads the `stats_service:*` keys (their
 * fingerprints, remaining lives and values) and withdraws ours. A key or field that does not
 * read is a named problem, never a reason to stop: the rest is read and written as usual.
 */
import { errorMessage } from '../lib/errors.js';
import { FAMILIES, type Family } from '../requests/batches.js';
import { redisFailure } from './redis-client.js';
import { KEY_META, META_PREFIX } from './metadata.js';

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
/** Hash: API key → PendingDifference (JSON). */
export const PENDING_KEY = `${META_PREFIX}drift:pending`;
/** Hash: instant (ISO) → ChangeCounters (JSON). */
export const COUNTERS_KEY = `${META_PREFIX}counters`;

/** A value the API wrote that showed a difference: the key, the value's SHA-1, and when its TTL ends it. */
export interface Evidence {
  readonly key: string;
  readonly sha1: string;
  readonly expires_at: string;
}

export interface DriftRecord {
  readonly endpoint: Family;
  /** The build that found it (see lib/version.ts): another build checks again. */
  readonly build: string;
  readonly detected_at: string;
  /** The API-written key that showed it first. */
  readonly key: string;
  readonly differences: readonly Difference[];
  /** The values that showed it; absent in records of builds before evidence was kept. */
  readonly evidence?: readonly Evidence[];
}

/**
 * A difference one key showed, waiting: value differences for the counters' proof that the
 * data did not change (`awaits: 'proof'`), then, like a difference of shape, for another key
 * to corroborate it (`awaits: 'corroboration'`).
 */
export interface PendingDifference {
  readonly endpoint: Family;
  readonly key: string;
  readonly differences: readonly Difference[];
  /** When they were found (the run's instant) and the counters then (null: not sampled). */
  readonly found_at: string;
  readonly counters: ChangeCounters | null;
  /** The earliest instant the API's value may stem from: the counters must be unchanged since before it. */
  readonly since: string;
  readonly awaits: 'proof' | 'corroboration';
  readonly evidence: Evidence;
}

export interface CounterSample {
  readonly at: string;
  readonly counters: ChangeCounters;
}

/** Something in the drift state that does not read: a key of another type (field null) or a field. */
export interface StateProblem {
  readonly key: string;
  readonly field: string | null;
  readonly text: string;
}

export interface DriftState {
  readonly records: Map<Family, DriftRecord>;
  readonly pending: Map<string, PendingDifference>;
  readonly history: CounterSample[];
  readonly problems: readonly StateProblem[];
}

type PipelineReplies = Promise<Array<[Error | null, unknown]> | null>;

/** The subset of a Redis client this needs. */
export interface DriftClient {
  hgetall(key: string): Promise<Record<string, string>>;
  hmget(key: string, ...fields: string[]): Promise<Array<string | null>>;
  eval(script: string, keys: number, ...args: Array<string | number>): Promise<unknown>;
  pipeline(): {
    hset(key: string, values: Record<string, string>): unknown;
    hdel(key: string, ...fields: string[]): unknown;
    del(...keys: string[]): unknown;
    get(key: string): unknown;
    exec(): PipelineReplies;
  };
}

const isWrongType = (error: unknown) => /^WRONGTYPE/.test(error instanceof Error ? error.message : String(error));

function wrongType(key: string, error: unknown): StateProblem {
  return { key, field: null, text: errorMessage(redisFailure(error, key)) };
}

/** A hash's fields; a key of another type is a problem (and reads as empty), any other failure throws. */
export async function readHash(client: Pick<DriftClient, 'hgetall'>, key: string, problems: StateProblem[]): Promise<Record<string, string>> {
  try {
    return await client.hgetall(key);
  } catch (error) {
    if (!isWrongType(error)) throw redisFailure(error, key);
    problems.push(wrongType(key, error));
    return {};
  }
}

function parse<T>(text: string, valid: (value: Partial<T>) => boolean): T | null {
  try {
    const value = JSON.parse(text) as Partial<T>;
    return value !== null && typeof value === 'object' && valid(value) ? (value as T) : null;
  } catch {
    return null;
  }
}

const isEvidence = (value: unknown): value is Evidence =>
  typeof value === 'object' && value !== null && typeof (value as Evidence).key === 'string' && typeof (value as Evidence).expires_at === 'string';

/** The state from the three hashes' fields (pure); a field that does not read is a problem, and left out. */
export function parseDriftState(hashes: { drift: Record<string, string>; pending: Record<string, string>; counters: Record<string, string> }): Omit<DriftState, 'problems'> & { problems: StateProblem[] } {
  const problems: StateProblem[] = [];
  const garbage = (key: string, field: string, what: string) =>
    problems.push({ key, field, text: `${key} field ${JSON.stringify(field)} is not ${what}; clear --drift removes it` });
  const records = new Map<Family, DriftRecord>();
  for (const [endpoint, text] of Object.entries(hashes.drift)) {
    const record = parse<DriftRecord>(text, (value) => typeof value.build === 'string' && Array.isArray(value.differences) && value.endpoint === endpoint);
    if (record && (FAMILIES as readonly string[]).includes(endpoint)) records.set(endpoint as Family, record);
    else garbage(DRIFT_KEY, endpoint, 'a drift record');
  }
  const pending = new Map<string, PendingDifference>();
  for (const [key, text] of Object.entries(hashes.pending)) {
    const entry = parse<PendingDifference>(
      text,
      (value) => typeof value.found_at === 'string' && typeof value.since === 'string' && Array.isArray(value.differences) && isEvidence(value.evidence),
    );
    if (entry) pending.set(key, entry);
    else garbage(PENDING_KEY, key, 'a pending difference');
  }
  const history: CounterSample[] = [];
  for (const [at, text] of Object.entries(hashes.counters)) {
    const counters = parse<ChangeCounters>(text, () => true);
    if (counters && !Number.isNaN(Date.parse(at))) history.push({ at, counters });
    else garbage(COUNTERS_KEY, at, 'a sample of the change counters');
  }
  history.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return { records, pending, history, problems };
}

/** Everything recorded; what does not read is in `problems`, and the rest is read all the same. */
export async function readDriftState(client: Pick<DriftClient, 'hgetall'>): Promise<DriftState> {
  const problems: StateProblem[] = [];
  const [drift, pending, counters] = await Promise.all([DRIFT_KEY, PENDING_KEY, COUNTERS_KEY].map((key) => readHash(client, key, problems)));
  const state = parseDriftState({ drift: drift!, pending: pending!, counters: counters! });
  return { ...state, problems: [...problems, ...state.problems] };
}

async function exec(pipeline: { exec(): PipelineReplies }): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
  return replies.map(([, reply]) => reply);
}

/** What a run changes in the state, written in one round trip. */
export interface DriftUpdate {
  readonly record?: ReadonlyMap<Family, DriftRecord>;
  readonly forget?: readonly Family[];
  readonly pending?: ReadonlyMap<string, PendingDifference>;
  readonly settle?: readonly string[];
  readonly sample?: CounterSample;
  /** Samples (their instants) to drop: older than any proof needs. */
  readonly prune?: readonly string[];
}

/** Writes the update; the keys of another type (`problems`) are left alone, so the rest is still written. */
export async function writeDriftState(client: DriftClient, update: DriftUpdate, problems: readonly StateProblem[] = []): Promise<void> {
  const unwritable = new Set(problems.filter((problem) => problem.field === null).map((problem) => problem.key));
  const pipeline = client.pipeline();
  const json = (entries: Iterable<readonly [string, unknown]>) => Object.fromEntries([...entries].map(([field, value]) => [field, JSON.stringify(value)]));
  const writable = (key: string) => !unwritable.has(key);
  if (update.record?.size && writable(DRIFT_KEY)) pipeline.hset(DRIFT_KEY, json(update.record));
  if (update.forget?.length && writable(DRIFT_KEY)) pipeline.hdel(DRIFT_KEY, ...update.forget);
  if (update.pending?.size && writable(PENDING_KEY)) pipeline.hset(PENDING_KEY, json(update.pending));
  if (update.settle?.length && writable(PENDING_KEY)) pipeline.hdel(PENDING_KEY, ...update.settle);
  if (update.sample && writable(COUNTERS_KEY)) pipeline.hset(COUNTERS_KEY, { [update.sample.at]: JSON.stringify(update.sample.counters) });
  if (update.prune?.length && writable(COUNTERS_KEY)) pipeline.hdel(COUNTERS_KEY, ...update.prune);
  await exec(pipeline);
}

/** What `clear --drift` forgets (or would, on a dry run). */
export interface ForgottenDrift {
  readonly endpoints: readonly Family[];
  /** API keys whose differences waited for proof or corroboration. */
  readonly pending: readonly string[];
  /** The state's problems removed: fields that do not read, keys of another type. */
  readonly problems: readonly string[];
}

/**
 * Forgets every drift record and waiting difference, and removes what of the state does not
 * read (`clear --drift`); the counters' history is kept (it is not drift, and proofs need it).
 */
export async function forgetDrift(client: DriftClient, dryRun = false): Promise<ForgottenDrift> {
  const { records, pending, problems } = await readDriftState(client);
  if (!dryRun) {
    const pipeline = client.pipeline();
    for (const problem of problems) {
      if (problem.field === null) pipeline.del(problem.key);
      else pipeline.hdel(problem.key, problem.field);
    }
    if (records.size > 0) pipeline.hdel(DRIFT_KEY, ...records.keys());
    if (pending.size > 0) pipeline.hdel(PENDING_KEY, ...pending.keys());
    await exec(pipeline);
  }
  return { endpoints: [...records.keys()], pending: [...pending.keys()], problems: problems.map((problem) => problem.text) };
}

/**
 * For each key: the SHA-1 of its value (false when absent or not a string), whether it is a
 * string, and its remaining life in ms (-1: none, -2: absent), in one round trip. GET through
 * pcall: a key of another type answers WRONGTYPE, which must not fail the other keys.
 */
const FINGERPRINT_SCRIPT = `
local result = {}
for index, key in ipairs(KEYS) do
  local value = redis.pcall('GET', key)
  local wrong = type(value) == 'table' and value.err ~= nil
  result[3 * index - 2] = (value and not wrong) and redis.sha1hex(value) or false
  result[3 * index - 1] = wrong and 1 or 0
  result[3 * index] = redis.call('PTTL', key)
end
return result`;

export interface Fingerprint {
  /** null: absent, or not a string. */
  readonly sha1: string | null;
  /** The key holds a hash, a list… : nothing the API writes. */
  readonly wrongType: boolean;
  readonly pttlMs: number;
}

export async function fingerprints(client: Pick<DriftClient, 'eval'>, keys: readonly string[]): Promise<Map<string, Fingerprint>> {
  const found = new Map<string, Fingerprint>();
  if (keys.length === 0) return found;
  const reply = (await client.eval(FINGERPRINT_SCRIPT, keys.length, ...keys)) as Array<string | null | number>;
  keys.forEach((key, index) => {
    const sha1 = reply[3 * index];
    found.set(key, { sha1: typeof sha1 === 'string' ? sha1 : null, wrongType: reply[3 * index + 1] === 1, pttlMs: Number(reply[3 * index + 2]) });
  });
  return found;
}

/** What we recorded writing for `keys` (KEY_META's fields); all null, and a problem, when that hash is of another type. */
export async function recordedWrites(client: Pick<DriftClient, 'hmget'>, keys: readonly string[], problems: StateProblem[]): Promise<Array<string | null>> {
  if (keys.length === 0) return [];
  try {
    return await client.hmget(KEY_META, ...keys);
  } catch (error) {
    if (!isWrongType(error)) throw redisFailure(error, KEY_META);
    problems.push(wrongType(KEY_META, error));
    return keys.map(() => null);
  }
}

/** Deletes each key whose value still has the given SHA-1 (ours, not rewritten since); returns those deleted. */
const DELETE_IF_SCRIPT = `
local deleted = {}
for index, key in ipairs(KEYS) do
  local value = redis.pcall('GET', key)
  if type(value) == 'string' and redis.sha1hex(value) == ARGV[index] then
    redis.call('DEL', key)
    deleted[#deleted + 1] = key
  end
end
return deleted`;

export async function deleteIfUnchanged(client: Pick<DriftClient, 'eval'>, keys: ReadonlyMap<string, string>): Promise<string[]> {
  if (keys.size === 0) return [];
  return (await client.eval(DELETE_IF_SCRIPT, keys.size, ...keys.keys(), ...keys.values())) as string[];
}

/** The values of `keys`, in one round trip (null for a key gone since, or turned into another type). */
export async function readValues(client: Pick<DriftClient, 'pipeline'>, keys: readonly string[]): Promise<Array<string | null>> {
  if (keys.length === 0) return [];
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.get(key);
  const replies = (await pipeline.exec()) ?? [];
  return keys.map((key, index) => {
    const [error, value] = replies[index] ?? [new Error('no reply from Redis'), null];
    if (error && !isWrongType(error)) throw redisFailure(error, key);
    return error ? null : (value as string | null);
  });
}
