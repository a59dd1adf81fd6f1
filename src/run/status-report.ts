/**
 * What `status` reports, read from Redis: every key the batches and the learned requests
 * cover (present, TTL, size, last write, compute time), each family's last run and lock,
 * the learned requests, the other `stats_service:*` keys, the drift recorded, and what in
 * Redis is not as stats-refresh left it. Read-only.
 */
import type { Redis } from 'ioredis';
import { DATA_STATE_KEY, type DataState, readDataStates } from '../io/data-state.js';
import { DRIFT_KEY, type DriftRecord } from '../io/drift-store.js';
import { activeLearned, LEARNED_KEY, type LearnedRequest, type LearnOptions } from '../io/learned.js';
import { lockKey } from '../io/lock.js';
import { type FamilyRun, KEY_META, lastRunKey, parseFamilyRun, parseKeyMeta } from '../io/metadata.js';
import { redisFailure, scanKeys } from '../io/redis-client.js';
import { errorMessage } from '../lib/errors.js';
import { safeUrl } from '../lib/redact.js';
import { FAMILIES, type Family } from '../requests/batches.js';
import { coveredKeys } from '../requests/covered.js';
import { KEY_PREFIX } from '../requests/keys.js';
import { readDriftStatus } from './drift-check.js';

export interface CoveredKeyStatus {
  key: string;
  family: Family;
  /** A learned request's key rather than a batch's. */
  learned: boolean;
  present: boolean;
  ttl_seconds: number | null;
  size_bytes: number | null;
  written_at: string | null;
  compute_ms: number | null;
  /** The instant its value was computed for (null: not recorded). */
  as_of: string | null;
}

export interface LockStatus {
  /** Held by a run now. */
  held: boolean;
  /** Milliseconds until it lapses; null when free, or when it has no expiry (a problem). */
  ttl_ms: number | null;
}

export interface CacheStatus {
  redis: string;
  covered: CoveredKeyStatus[];
  present: number;
  missing: number;
  families: Record<Family, FamilyRun | null>;
  /** When a change in the data was last seen (a run's probe first saw its fingerprint); null: never probed. */
  last_change_seen: string | null;
  /** Each family's stored data state: its keys' instant (`now`) and how long they stay exact (`valid_until`). */
  data_states: Record<Family, DataState | null>;
  /** Each family's lock: a run holds it now, or it is free. */
  locks: Record<Family, LockStatus>;
  /** The learned requests refreshed with their families now (see io/learned.ts). */
  learned: Array<Omit<LearnedRequest, 'request'>>;
  extra_keys: Array<{ key: string; ttl_seconds: number }>;
  /** Endpoints found to differ from the API (docs/drift.md), with what showed it. */
  drift: DriftRecord[];
  /** What in Redis is not as stats-refresh left it, each with what to do. */
  problems: string[];
}

type Reply = [Error | null, unknown];
type Answer = { readonly value: unknown } | { readonly problem: string };

/** The pipeline's replies in the order their commands were queued, one at a time. */
function inOrder(replies: readonly Reply[]): () => Reply | undefined {
  let next = 0;
  return () => replies[next++];
}

/** The reply of a pipelined command, or its error in the operator's words (naming `key`). */
function answerOf(reply: Reply | undefined, key: string): Answer {
  const [error, value] = reply ?? [new Error('no reply from Redis'), null];
  return error ? { problem: errorMessage(redisFailure(error, key)) } : { value };
}

/** A hash's fields; a key of another type is a problem noted, read as empty. */
async function readHash(redis: Redis, key: string, problems: string[]): Promise<Record<string, string>> {
  try {
    return await redis.hgetall(key);
  } catch (error) {
    if (!/^WRONGTYPE/.test((error as Error).message)) throw redisFailure(error);
    problems.push(errorMessage(redisFailure(error, key)));
    return {};
  }
}

async function execPipeline(pipeline: ReturnType<Redis['pipeline']>): Promise<Reply[]> {
  try {
    return (await pipeline.exec()) ?? [];
  } catch (error) {
    throw redisFailure(error);
  }
}

/** A covered key's row from its TTL and length replies; a key the API cannot read as a payload is as good as missing. */
function coveredRow(key: string, family: Family, learned: boolean, ttl: Answer, size: Answer, meta: Record<string, string>, problems: string[]): CoveredKeyStatus {
  const problem = 'problem' in ttl ? ttl.problem : 'problem' in size ? size.problem : null;
  if (problem) problems.push(problem);
  const present = problem === null && 'value' in ttl && ttl.value !== -2;
  const written = parseKeyMeta(meta[key]);
  return {
    key,
    family,
    learned,
    present,
    ttl_seconds: present && 'value' in ttl ? (ttl.value as number) : null,
    size_bytes: present && 'value' in size ? (size.value as number) : null,
    written_at: written?.written_at ?? null,
    compute_ms: written?.compute_ms ?? null,
    as_of: written?.as_of ?? null,
  };
}

/** A family's last run record, or null (a record of another shape is a problem noted). */
function lastRunOf(family: Family, answer: Answer, problems: string[]): FamilyRun | null {
  if ('problem' in answer) {
    problems.push(answer.problem);
    return null;
  }
  const run = parseFamilyRun(answer.value as string | null);
  if (answer.value !== null && run === null) {
    problems.push(`${lastRunKey(family)} does not hold a run record; it is ignored, and the next run of ${family} writes it again`);
  }
  return run;
}

/** A family's lock from its PTTL (a lock without expiry is a problem noted). */
function lockOf(family: Family, answer: Answer, problems: string[]): LockStatus {
  const ttl = 'value' in answer ? (answer.value as number) : -2;
  if (ttl === -1) problems.push(`${lockKey(family)} has no expiry, so it would never lapse; the next run of ${family} gives it one`);
  return { held: ttl !== -2, ttl_ms: ttl >= 0 ? ttl : null };
}

/**
 * The drift recorded, and what the drift check would not read as the API's (problems noted);
 * a drift state Redis cannot give is a problem noted.
 */
async function driftRecords(redis: Redis, now: Date, covered: ReadonlyMap<string, Family>, problems: string[]): Promise<DriftRecord[]> {
  try {
    const drift = await readDriftStatus(redis, now, new Set(covered.keys()));
    problems.push(...drift.problems);
    return [...drift.records.values()];
  } catch (error) {
    problems.push(errorMessage(redisFailure(error, DRIFT_KEY)));
    return [];
  }
}

/** Each family's data state; states Redis cannot give are a problem noted, read as none. */
async function dataStatesOf(redis: Redis, problems: string[]): Promise<Record<Family, DataState | null>> {
  try {
    return await readDataStates(redis);
  } catch (error) {
    problems.push(errorMessage(redisFailure(error, DATA_STATE_KEY)));
    return Object.fromEntries(FAMILIES.map((family) => [family, null])) as Record<Family, DataState | null>;
  }
}

/** The `stats_service:*` keys nothing covers (the API's own), with their TTLs. */
async function extraKeys(redis: Redis, covered: ReadonlyMap<string, Family>): Promise<Array<{ key: string; ttl_seconds: number }>> {
  const extras = (await scanKeys(redis, `${KEY_PREFIX}*`)).filter((key) => !covered.has(key)).sort();
  if (extras.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const key of extras) pipeline.ttl(key);
  const ttls = ((await pipeline.exec()) ?? []).map(([, ttl]) => ttl as number);
  return extras.map((key, index) => ({ key, ttl_seconds: ttls[index] ?? -2 }));
}

/** The cache as `now` sees it; `learn` says which learned requests are still refreshed. */
export async function readStatus(redis: Redis, redisUrl: string, now: Date, learn: LearnOptions): Promise<CacheStatus> {
  const problems: string[] = [];
  const { active } = activeLearned(await readHash(redis, LEARNED_KEY, problems), FAMILIES, now, learn);
  const learnedKeys = new Set(active.map((learned) => learned.key));
  const covered = coveredKeys(new Map(active.map((learned) => [learned.key, learned.family])));
  const meta = await readHash(redis, KEY_META, problems);

  const pipeline = redis.pipeline();
  for (const key of covered.keys()) pipeline.ttl(key).strlen(key);
  for (const family of FAMILIES) pipeline.get(lastRunKey(family)).pttl(lockKey(family));
  const next = inOrder(await execPipeline(pipeline));
  const rows = [...covered].map(([key, family]) => {
    const ttl = answerOf(next(), key);
    return coveredRow(key, family, learnedKeys.has(key), ttl, answerOf(next(), key), meta, problems);
  });
  const drift = await driftRecords(redis, now, covered, problems);
  const dataStates = await dataStatesOf(redis, problems);
  const changes = FAMILIES.flatMap((family) => dataStates[family]?.fingerprint_at ?? []).sort();
  const families = {} as Record<Family, FamilyRun | null>;
  const locks = {} as Record<Family, LockStatus>;
  for (const family of FAMILIES) {
    families[family] = lastRunOf(family, answerOf(next(), lastRunKey(family)), problems);
    locks[family] = lockOf(family, answerOf(next(), lockKey(family)), problems);
  }
  return {
    redis: safeUrl(redisUrl),
    covered: rows,
    present: rows.filter((row) => row.present).length,
    missing: rows.filter((row) => !row.present).length,
    families,
    last_change_seen: changes.at(-1) ?? null,
    data_states: dataStates,
    locks,
    learned: active.map(({ request: _request, ...learned }) => learned),
    extra_keys: await extraKeys(redis, covered),
    drift,
    problems,
  };
}
