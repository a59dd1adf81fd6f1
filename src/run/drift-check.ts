/**
 * Never wrong silently: the drift check of a run, its I/O and its log. Before a run
 * overwrites the API's cache, the payloads the API wrote itself are read (src/io/drift-store.ts)
 * and judged (src/stats/api-entries.ts, api-comparison.ts, drift-judgement.ts) against ours at
 * the instants the API's values may stem from, on the run's own pass; what is found is
 * recorded in Redis for every run to see, and runs then yield the endpoint to the API
 * (`--on-drift yield`, the default): they write none of its keys and delete their own.
 */
import { createHash } from 'node:crypto';
import { redisFailure, type ScanClient, scanKeys } from '../io/redis-client.js';
import {
  type DriftClient,
  type DriftRecord,
  type DriftState,
  type StateProblem,
  deleteIfUnchanged,
  fingerprints,
  readDriftState,
  readHash,
  readValues,
  recordedWrites,
  writeDriftState,
} from '../io/drift-store.js';
import type { Logger } from '../io/logger.js';
import { KEY_META } from '../io/metadata.js';
import { BUILD } from '../lib/version.js';
import type { RunData } from '../pass/run-data.js';
import type { Family } from '../requests/batches.js';
import { FAMILIES } from '../requests/batches.js';
import { KEY_PREFIX } from '../requests/keys.js';
import { compareEntries } from '../stats/api-comparison.js';
import { type ApiKeys, apiKeysOf, type CacheTtls, concerns, ourKeysOf, recordedSha1, theirKeys } from '../stats/api-entries.js';
import type { Assembler } from '../stats/assemble.js';
import { type ChangeProof, judge, withdrawnRecords } from '../stats/drift-judgement.js';

export type OnDrift = 'yield' | 'warn';

export interface DriftSettings extends CacheTtls {
  readonly onDrift: OnDrift;
}

export type DriftCheckClient = DriftClient & ScanClient;

/** The API's keys as found now, with the SHA-1 the state's evidence keys hold, and what of Redis did not read. */
export interface FoundApiKeys extends ApiKeys {
  readonly current: ReadonlyMap<string, string | null>;
  readonly problems: readonly StateProblem[];
}

/** The keys of the state's evidence: a run looks at them again, to see whether they were withdrawn. */
function evidenceKeys(state: DriftState): string[] {
  const records = [...state.records.values()].flatMap((record) => record.evidence ?? []);
  const pending = [...state.pending.values()].map((waiting) => waiting.evidence);
  return [...new Set([...records, ...pending].map((evidence) => evidence.key))];
}

/**
 * The `stats_service:*` keys of `endpoints` (and stray ones) as scanned and fingerprinted,
 * sorted into the API's and stray ones; and the SHA-1 each `watched` key holds now, unless
 * it holds ours (a run overwrites the API's keys: that withdraws no evidence).
 */
async function scanApiKeys(client: DriftCheckClient, endpoints: readonly Family[], now: Date, watched: readonly string[], problems: StateProblem[]) {
  const keys = (await scanKeys(client, `${KEY_PREFIX}*`)).filter((key) => concerns(key, endpoints));
  const looked = [...new Set([...keys, ...watched])];
  const [prints, metas] = await Promise.all([fingerprints(client, looked), recordedWrites(client, looked, problems)]);
  const metaOf = new Map(looked.map((key, index) => [key, metas[index] ?? null]));
  const found = theirKeys(
    keys.map((key) => ({ key, meta: metaOf.get(key) ?? null, print: prints.get(key)! })),
    now,
  );
  const current = new Map<string, string | null>();
  for (const key of watched) {
    const sha1 = prints.get(key)?.sha1 ?? null;
    if (sha1 === null || sha1 !== recordedSha1(metaOf.get(key))) current.set(key, sha1);
  }
  return { found, current };
}

/**
 * The `stats_service:*` keys of `endpoints` that the API wrote (not ours: their value is not
 * the one we recorded writing), with their values; the keys no request of ours reads; the
 * stray keys; and the SHA-1 `watched` keys hold now.
 */
export async function findApiKeys(
  client: DriftCheckClient,
  endpoints: readonly Family[],
  now: Date,
  ttls: CacheTtls,
  watched: readonly string[] = [],
): Promise<FoundApiKeys> {
  const problems: StateProblem[] = [];
  const { found, current } = await scanApiKeys(client, endpoints, now, watched, problems);
  const readable = found.theirs.filter(({ target }) => target.parts).map(({ key }) => key);
  const values = await readValues(client, readable);
  const apiKeys = apiKeysOf(found, new Map(readable.map((key, index) => [key, values[index] ?? null])), now, ttls);
  return { ...apiKeys, current, problems };
}

export interface DriftOutcome {
  /** The endpoints whose runs yield to the API now (recorded by this build, --on-drift yield). */
  readonly yielding: ReadonlyMap<Family, DriftRecord>;
  /** Every endpoint with drift recorded by this build, yielding or not. */
  readonly recorded: ReadonlyMap<Family, DriftRecord>;
  /** Drift found by this run. */
  readonly found: ReadonlyMap<Family, DriftRecord>;
}

/** The state as this build sees it: records of another build are forgotten (this one checks again). */
export async function currentState(client: DriftClient, logger: Logger): Promise<DriftState> {
  const state = await readDriftState(client);
  const stale = [...state.records].filter(([, record]) => record.build !== BUILD).map(([endpoint]) => endpoint);
  for (const endpoint of stale) {
    logger.info({ endpoint, recorded_by: state.records.get(endpoint)!.build, build: BUILD }, 'drift recorded by another build forgotten: checking again');
  }
  await forgetRecords(client, state, stale);
  return state;
}

async function forgetRecords(client: DriftClient, state: DriftState, endpoints: readonly Family[]): Promise<void> {
  if (endpoints.length === 0) return;
  for (const endpoint of endpoints) state.records.delete(endpoint);
  await writeDriftState(client, { forget: endpoints }, state.problems);
}

/** Deletes the keys we wrote for the yielding endpoints (those still holding our value), so the API computes its own. */
export async function withdrawKeys(client: DriftClient, yielding: ReadonlySet<Family>): Promise<string[]> {
  if (yielding.size === 0) return [];
  const meta = await readHash(client, KEY_META, []);
  return deleteIfUnchanged(client, ourKeysOf(meta, yielding));
}

/** A value's fingerprint, as our metadata records it and the drift check compares. */
export function sha1Of(value: string): string {
  return createHash('sha1').update(value).digest('hex');
}

/** The drift check of one run, between its two phases. */
export interface DriftCheck {
  readonly state: DriftState;
  readonly keys: FoundApiKeys;
  readonly settings: DriftSettings;
  readonly now: Date;
  /** Endpoints already yielding when the run started: their requests are not computed. */
  readonly yielding: ReadonlyMap<Family, DriftRecord>;
}

/** One warning per thing in Redis the check cannot use, each naming its key. */
function warnProblems(keys: FoundApiKeys, state: DriftState, settings: DriftSettings, logger: Logger): void {
  for (const problem of [...state.problems, ...keys.problems]) logger.warn({ key: problem.key, ...(problem.field === null ? {} : { field: problem.field }) }, problem.text);
  for (const { key, why } of keys.stray) {
    logger.warn({ key }, `${key} is no payload the API wrote (${why}): not drift; DEL ${key} if nothing uses it`);
  }
  if (keys.longerThanSet.length > 0) {
    logger.warn(
      { keys: keys.longerThanSet, api_cache_ttl_seconds: settings.apiTtlMs / 1000 },
      `${keys.longerThanSet.length} key(s) the API wrote have more life left than --api-cache-ttl allows: set it to the API's STATS_API_CACHE_TTL (their values are compared by shape only)`,
    );
  }
}

/** Reads the shared state and the keys the API wrote; null (and a warning) when Redis does not answer them. */
export async function startDriftCheck(
  client: DriftCheckClient,
  endpoints: readonly Family[],
  now: Date,
  settings: DriftSettings,
  logger: Logger,
): Promise<DriftCheck | null> {
  try {
    const state = await currentState(client, logger);
    const keys = await findApiKeys(client, endpoints, now, settings, evidenceKeys(state));
    warnProblems(keys, state, settings, logger);
    const withdrawn = withdrawnRecords(state, keys.current, now);
    for (const endpoint of withdrawn) logger.info({ endpoint }, 'drift record forgotten: the values that showed it were deleted or rewritten before they expired');
    await forgetRecords(client, state, withdrawn);
    const yielding = settings.onDrift === 'yield' ? new Map([...state.records].filter(([endpoint]) => endpoints.includes(endpoint))) : new Map();
    logger.debug({ api_keys: keys.entries.length, unreadable: keys.unreadable.length, yielding: [...yielding.keys()] }, 'drift check started');
    return { state, keys, settings, now, yielding };
  } catch (error) {
    logger.warn({ err: redisFailure(error) }, "drift check not run: its state or the API's keys could not be read");
    return null;
  }
}

/** Compares, records (one error line and a report per drift found), and says which endpoints yield now. */
export async function finishDriftCheck(
  client: DriftClient,
  check: DriftCheck,
  data: RunData,
  assemblerAt: (at: Date) => Assembler,
  proof: ChangeProof | null,
  report: (message: string, context: Record<string, string>) => void,
  logger: Logger,
): Promise<DriftOutcome> {
  const comparisons = compareEntries(check.keys.entries, data, check.now, assemblerAt);
  for (const comparison of comparisons) {
    const { key } = comparison.entry;
    if (comparison.problem) {
      logger.warn({ key }, `${key}: ${comparison.problem}: not drift; DEL ${key} if nothing uses it`);
      continue;
    }
    logger.debug(
      { key, shape: comparison.shape.length, values: comparison.values?.length ?? null, ...(comparison.why ? { why: comparison.why } : {}) },
      'compared with the API',
    );
  }
  const judgement = judge(check.state, { comparisons, unreadable: check.keys.unreadable, proof, now: check.now, current: check.keys.current });
  // Found drift is acted on even when Redis refuses to keep it: this run knows.
  await writeDriftState(client, judgement, check.state.problems).catch((error: unknown) => logger.warn({ err: redisFailure(error) }, 'drift state not written'));
  for (const waiting of judgement.pending?.values() ?? []) {
    if (waiting.awaits !== 'corroboration' || waiting.found_at !== check.now.toISOString()) continue;
    const paths = waiting.differences.map((difference) => difference.path).join(', ');
    logger.warn({ endpoint: waiting.endpoint, key: waiting.key, differences: waiting.differences }, `the API's payload at ${waiting.key} differs (${paths}); drift once another key shows it`);
  }
  for (const drift of judgement.found.values()) {
    const paths = drift.differences.map((difference) => difference.path).join(', ');
    const action = check.settings.onDrift === 'yield' ? 'yielding to the API: its keys are no longer written' : 'still writing (--on-drift warn)';
    logger.error(
      { endpoint: drift.endpoint, key: drift.key, differences: drift.differences },
      `drift: the API's ${drift.endpoint} payloads differ from what stats-refresh computes (${paths}); ${action}`,
    );
    report(`stats-refresh: drift on ${drift.endpoint}: ${paths}`, { endpoint: drift.endpoint, key: drift.key });
  }
  const recorded = new Map([...check.state.records, ...judgement.found]);
  return { recorded, found: judgement.found, yielding: check.settings.onDrift === 'yield' ? recorded : new Map() };
}

/**
 * What `status` shows of the drift check: the records, and the problems in words: what of
 * its state does not read, and the stray `stats_service:*` keys (none of their values read)
 * but those `named` already.
 */
export async function readDriftStatus(
  client: DriftCheckClient,
  now: Date,
  named: ReadonlySet<string>,
): Promise<{ records: ReadonlyMap<Family, DriftRecord>; problems: string[] }> {
  const state = await readDriftState(client);
  const { found } = await scanApiKeys(client, FAMILIES, now, [], []);
  const problems = [
    ...state.problems.map((problem) => problem.text),
    ...found.stray.filter(({ key }) => !named.has(key)).map(({ key, why }) => `${key} is no payload the API wrote (${why}); DEL ${key} if nothing uses it`),
  ];
  return { records: state.records, problems };
}
