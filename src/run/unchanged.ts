/**
 * One-shot runs with nothing to recompute (issue 23, "CronJobs too"). Before a family's run
 * reads anything, one probe statement (src/pass/change-probe.ts) takes the data's
 * fingerprint and the validity horizon; a family whose stored state (src/io/data-state.ts)
 * has the same fingerprint and build, whose instant is at most `now` and whose horizon is not
 * passed, and whose keys all still hold the values we wrote, only has its keys' TTL renewed.
 * Anything else, or any doubt (a probe or Redis failure, drift recorded), computes. After the
 * run, each family that ran without a failure stores its state; the others forget theirs.
 */
import type pg from 'pg';
import { type DataState, keysDigest, readDataStates, writeDataStates } from '../io/data-state.js';
import { readDriftState, fingerprints, type DriftClient } from '../io/drift-store.js';
import { type RenewalClient, readKeyMetas, renewKeys } from '../io/key-renewal.js';
import type { KeyMeta } from '../io/metadata.js';
import type { Logger } from '../io/logger.js';
import { redisFailure } from '../io/redis-client.js';
import { errorMessage } from '../lib/errors.js';
import { BUILD } from '../lib/version.js';
import { fingerprintText, probeAt, type ProbeReading } from '../pass/change-probe.js';
import type { Family } from '../requests/batches.js';
import { cachedSectionsOf, payloadKey, sectionKey } from '../requests/request-keys.js';
import type { PlannedRequest, RefreshRun, UnchangedFamily } from './results.js';

/** What the check needs of the runtime. */
export interface UnchangedDeps {
  readonly pool: Pick<pg.Pool, 'query'>;
  readonly redis: DriftClient & RenewalClient & Parameters<typeof readDataStates>[0];
  readonly logger: Logger;
  readonly secrets: readonly string[];
}

export interface UnchangedCheck {
  /** What the probe read; null when it failed (every family computes, no state is stored). */
  readonly reading: ProbeReading | null;
  /** When the probe ran. */
  readonly probedAt: Date;
  readonly stored: Readonly<Record<Family, DataState | null>> | null;
  /** The families whose keys were renewed instead of computed. */
  readonly unchanged: ReadonlyMap<Family, UnchangedFamily>;
  /** Statements sent (the probe's). */
  readonly statements: number;
}

/** Every key a family's batch and learned requests read: their payloads and the sections the API caches on their own. */
export function familyKeys(requests: readonly PlannedRequest[], family: Family): string[] {
  const own = requests.filter((planned) => planned.origin !== 'request' && planned.request.family === family);
  return [...new Set(own.flatMap(({ request }) => [payloadKey(request), ...cachedSectionsOf(request).map((section) => sectionKey(section, request.period))]))];
}

/** What a family's state is compared with. */
export interface Current {
  readonly fingerprint: string;
  readonly build: string;
  readonly now: Date;
  readonly keysDigest: string;
  /**
   * How long after the stored instant values may be kept at all (the API's own cache TTL): what
   * the probe cannot see (a country edited) is then never older than the API itself would serve.
   */
  readonly maxAgeMs: number;
}

/** Why a family must be computed given its stored state, or null when the state still holds. */
export function reasonToCompute(state: DataState | null, current: Current): string | null {
  if (state === null) return 'no state stored';
  if (state.build !== current.build) return 'stored by another build';
  if (state.fingerprint !== current.fingerprint) return 'data changed';
  const now = current.now.getTime();
  if (!(now >= Date.parse(state.now))) return 'now is before the stored instant';
  if (state.valid_until !== null && !(now <= Date.parse(state.valid_until))) return 'validity horizon passed';
  if (!(now <= Date.parse(state.now) + current.maxAgeMs)) return 'kept for --api-cache-ttl already';
  if (state.keys_digest !== current.keysDigest) return 'other keys';
  return null;
}

/** Why a key cannot be kept: gone, not the value we wrote, or computed outside the state's validity. */
export function keyDoubt(sha1: string | null, meta: KeyMeta | null, state: DataState): string | null {
  if (sha1 === null) return 'key gone';
  if (!meta?.sha1 || meta.sha1 !== sha1) return 'key not as we wrote it';
  const asOf = Date.parse(meta.as_of ?? '');
  const inside = asOf >= Date.parse(state.now) && (state.valid_until === null || asOf <= Date.parse(state.valid_until));
  return inside ? null : 'key computed for another instant';
}

/**
 * Probes, then renews the keys of every family whose state still holds; with `force`, neither.
 * Never throws: a failure is logged and the families compute.
 */
export async function checkUnchanged(
  deps: UnchangedDeps,
  families: readonly Family[],
  requests: readonly PlannedRequest[],
  now: Date,
  settings: { readonly ttlSeconds: number; readonly force: boolean; readonly maxAgeMs: number },
): Promise<UnchangedCheck> {
  const { logger } = deps;
  const probedAt = new Date();
  const none = { probedAt, stored: null, unchanged: new Map<Family, UnchangedFamily>(), statements: 1 };
  // --force computes without asking: no probe (whose statements a slow view pays too); the
  // families' stored states are forgotten after the run, as after a failed probe.
  if (settings.force) return { ...none, statements: 0, reading: null };
  let reading: ProbeReading;
  try {
    reading = await probeAt(deps.pool, now);
  } catch (error) {
    logger.warn({ err: errorMessage(error, deps.secrets) }, 'change probe failed: computing every family');
    return { ...none, reading: null };
  }
  try {
    const stored = await readDataStates(deps.redis);
    const unchanged = await renewUnchanged(deps, families, requests, reading, stored, settings);
    return { ...none, reading, stored, unchanged };
  } catch (error) {
    logger.warn({ err: redisFailure(error) }, 'stored data state not read: computing every family');
    return { ...none, reading, stored: null };
  }
}

async function renewUnchanged(
  deps: UnchangedDeps,
  families: readonly Family[],
  requests: readonly PlannedRequest[],
  reading: ProbeReading,
  stored: Readonly<Record<Family, DataState | null>>,
  { ttlSeconds, maxAgeMs }: { readonly ttlSeconds: number; readonly maxAgeMs: number },
): Promise<Map<Family, UnchangedFamily>> {
  const { logger } = deps;
  const drift = (await readDriftState(deps.redis)).records;
  const fingerprint = fingerprintText(reading.fingerprint);
  const candidates = new Map<Family, { state: DataState; keys: string[] }>();
  for (const family of families) {
    const keys = familyKeys(requests, family);
    const state = stored[family];
    const reason = drift.has(family)
      ? 'drift recorded'
      : reasonToCompute(state, { fingerprint, build: BUILD, now: reading.now, keysDigest: keysDigest(keys), maxAgeMs });
    if (reason === null && keys.length > 0) candidates.set(family, { state: state!, keys });
    else logger.info({ family, reason: reason ?? 'no keys' }, 'family computed');
  }
  const keys = [...new Set([...candidates.values()].flatMap((candidate) => candidate.keys))];
  const [held, metas] = await Promise.all([fingerprints(deps.redis, keys), readKeyMetas(deps.redis, keys)]);
  for (const [family, { state, keys: own }] of candidates) {
    const doubt = own.map((key) => [key, keyDoubt(held.get(key)?.sha1 ?? null, metas.get(key) ?? null, state)] as const).find(([, why]) => why);
    if (!doubt) continue;
    candidates.delete(family);
    logger.info({ family, reason: doubt[1], key: doubt[0] }, 'family computed');
  }
  const renewing = new Map([...candidates.values()].flatMap(({ keys: own }) => own.map((key) => [key, metas.get(key)!] as const)));
  const gone = new Set(await renewKeys(deps.redis, renewing, ttlSeconds, new Date()));
  const unchanged = new Map<Family, UnchangedFamily>();
  for (const [family, { state, keys: own }] of candidates) {
    const lost = own.find((key) => gone.has(key));
    if (lost) {
      logger.info({ family, reason: 'key gone', key: lost }, 'family computed');
      continue;
    }
    unchanged.set(family, { as_of: state.now, valid_until: state.valid_until, keys: own.length });
    logger.info({ family, as_of: state.now, valid_until: state.valid_until, keys: own.length }, 'family unchanged: keys renewed, no table read');
  }
  return unchanged;
}

/** The requests still to compute: requests given, and the batch and learned requests of the families not unchanged. */
export function stillToCompute(requests: readonly PlannedRequest[], check: UnchangedCheck | null): PlannedRequest[] {
  return requests.filter((planned) => planned.origin === 'request' || !check?.unchanged.has(planned.request.family));
}

/**
 * After the run: each family it computed without a failure stores its state (the probe's
 * fingerprint, the run's instant and horizon, the keys); the others forget theirs. Returns
 * the run with the unchanged families and the probe's statement. Best effort: a state not
 * stored only makes the next run compute.
 */
export async function settleUnchanged(
  deps: UnchangedDeps,
  check: UnchangedCheck,
  requests: readonly PlannedRequest[],
  run: RefreshRun,
): Promise<RefreshRun> {
  const states = new Map<Family, DataState>();
  const forget: Family[] = [];
  const { reading } = check;
  for (const family of run.families) {
    const failed = run.results.some((result) => result.family === family && result.error !== null);
    if (reading === null || failed || run.interrupted !== null || run.dryRun || reading.now.getTime() !== run.now.getTime()) {
      forget.push(family);
      continue;
    }
    const fingerprint = fingerprintText(reading.fingerprint);
    const before = check.stored?.[family];
    states.set(family, {
      fingerprint,
      fingerprint_at: before?.fingerprint === fingerprint ? before.fingerprint_at : check.probedAt.toISOString(),
      now: run.now.toISOString(),
      valid_until: reading.validUntil?.toISOString() ?? null,
      build: BUILD,
      keys_digest: keysDigest(familyKeys(requests, family)),
    });
  }
  await writeDataStates(deps.redis, states, forget).catch((error: unknown) =>
    deps.logger.warn({ err: redisFailure(error) }, 'data state not stored: the next run computes'),
  );
  return { ...run, statements: run.statements + check.statements, unchanged: check.unchanged };
}
