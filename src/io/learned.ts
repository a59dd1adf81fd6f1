/**
 * Learned coverage: the requests admins actually make, learned from the cache. A
 * `stats_service:` key of a family's method that the API wrote itself (a miss it computed:
 * not in our batch, not a write of ours still alive) is parsed back into a request and
 * remembered under `stats_refresh:learned` with when it was first and last seen so. Every
 * run of the family then refreshes the requests seen within the window, most recent first.
 */
import { compareText } from '../lib/compare.js';
import { redisFailure, type ScanClient, scanKeys } from './redis-client.js';
import type { Logger } from './logger.js';
import { KEY_META, type KeyMeta, META_PREFIX } from './metadata.js';
import type { Family, StatsRequest } from '../requests/batches.js';
import { familyOfKey, parsePayloadKey } from '../requests/key-parser.js';
import { KEY_PREFIX, METHODS } from '../requests/keys.js';

/** Hash: cache key → JSON {first_seen, last_seen}. */
export const LEARNED_KEY = `${META_PREFIX}learned`;

export interface LearnedSighting {
  readonly first_seen: string;
  readonly last_seen: string;
}

export interface LearnedRequest extends LearnedSighting {
  readonly key: string;
  readonly family: Family;
  readonly request: StatsRequest;
  /** When it leaves the batch unless the API writes it again. */
  readonly lapses_at: string;
}

export interface LearnOptions {
  readonly windowMs: number;
  readonly max: number;
}

/** The subset of a Redis client learning needs. */
export interface LearnClient extends ScanClient {
  hmget(key: string, ...fields: string[]): Promise<Array<string | null>>;
  hgetall(key: string): Promise<Record<string, string>>;
  pipeline(): {
    hset(key: string, values: Record<string, string>): unknown;
    hdel(key: string, ...fields: string[]): unknown;
    exec(): Promise<Array<[Error | null, unknown]> | null>;
  };
}

function parseSighting(text: string | undefined): LearnedSighting | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<LearnedSighting>;
    return typeof value.first_seen === 'string' && typeof value.last_seen === 'string'
      ? { first_seen: value.first_seen, last_seen: value.last_seen }
      : null;
  } catch {
    return null;
  }
}

/** Whether our own write of a key is still alive: the API never replaces a live key, so it is ours. */
function ownWriteAlive(meta: string | null, clockMs: number): boolean {
  if (!meta) return false;
  try {
    const { written_at, ttl_seconds } = JSON.parse(meta) as KeyMeta;
    return Date.parse(written_at) + ttl_seconds * 1000 > clockMs;
  } catch {
    return false;
  }
}

/** The learned requests of the families, active at `now` (within the window), most recently seen first, at most `max` each. */
export function activeLearned(
  entries: Readonly<Record<string, string>>,
  families: readonly Family[],
  now: Date,
  options: LearnOptions,
): { active: LearnedRequest[]; lapsed: string[] } {
  const active: LearnedRequest[] = [];
  const lapsed: string[] = [];
  for (const [key, text] of Object.entries(entries)) {
    const family = familyOfKey(key);
    if (!family || !families.includes(family)) continue;
    const sighting = parseSighting(text);
    const request = parsePayloadKey(key);
    const lapsesAt = sighting ? Date.parse(sighting.last_seen) + options.windowMs : Number.NaN;
    if (!sighting || !request || !(lapsesAt >= now.getTime())) {
      lapsed.push(key);
      continue;
    }
    active.push({ key, family, request, ...sighting, lapses_at: new Date(lapsesAt).toISOString() });
  }
  active.sort((a, b) => compareText(b.last_seen, a.last_seen) || compareText(a.key, b.key));
  return {
    active: families.flatMap((family) => active.filter((request) => request.family === family).slice(0, options.max)),
    lapsed,
  };
}

/**
 * Records the API-written keys of the families seen now, forgets the lapsed ones, and
 * returns the learned requests to refresh. `batchKeys` are the keys the run writes anyway.
 */
export async function learnRequests(
  client: LearnClient,
  families: readonly Family[],
  batchKeys: ReadonlySet<string>,
  now: Date,
  options: LearnOptions,
  logger: Logger,
): Promise<LearnedRequest[]> {
  const scanned = (await Promise.all(families.map((family) => scanKeys(client, `${KEY_PREFIX}${METHODS[family]}:*`))))
    .flat()
    .filter((key) => !batchKeys.has(key));
  const named = (key: string) => (error: unknown) => {
    throw redisFailure(error, key);
  };
  const metas = scanned.length > 0 ? await client.hmget(KEY_META, ...scanned).catch(named(KEY_META)) : [];
  const entries = await client.hgetall(LEARNED_KEY).catch(named(LEARNED_KEY));
  const seen: Record<string, string> = {};
  const clockMs = Date.now();
  scanned.forEach((key, index) => {
    if (ownWriteAlive(metas[index] ?? null, clockMs)) return;
    if (!parsePayloadKey(key)) {
      logger.debug({ key }, 'learned: key ignored (does not read as one request the API accepts)');
      return;
    }
    const before = parseSighting(entries[key]);
    seen[key] = JSON.stringify({ first_seen: before?.first_seen ?? now.toISOString(), last_seen: now.toISOString() });
  });
  const { active, lapsed } = activeLearned({ ...entries, ...seen }, families, now, options);
  if (Object.keys(seen).length > 0 || lapsed.length > 0) {
    const pipeline = client.pipeline();
    if (Object.keys(seen).length > 0) pipeline.hset(LEARNED_KEY, seen);
    if (lapsed.length > 0) pipeline.hdel(LEARNED_KEY, ...lapsed);
    const failed = ((await pipeline.exec()) ?? []).find(([error]) => error);
    if (failed) throw redisFailure(failed[0], LEARNED_KEY);
  }
  if (Object.keys(seen).length > 0 || lapsed.length > 0) {
    logger.info({ families, seen: Object.keys(seen).length, lapsed: lapsed.length, active: active.length }, 'learned requests updated');
  }
  return active;
}
