/**
 * Never wrong silently: before a run overwrites the API's cache, every payload the API
 * wrote itself (a key not ours) is compared with what stats-refresh computes for the same
 * request as of the instants the API's value may stem from, on the run's own pass. A
 * difference of shape is drift at once; a difference of values only once the tables'
 * change counters prove the data did not change meanwhile (a later run confirms it). An
 * endpoint with drift is recorded in Redis for every run to see; runs then yield it to the
 * API (`--on-drift yield`, the default): they write none of its keys and delete their own,
 * so the API computes its own answers.
 */
import { createHash } from 'node:crypto';
import { redisFailure, scanKeys } from '../io/redis-client.js';
import {
  type ChangeCounters,
  type Difference,
  type DriftClient,
  type DriftRecord,
  type DriftState,
  type DriftUpdate,
  type PendingValues,
  deleteIfUnchanged,
  fingerprints,
  readDriftState,
  readValues,
  writeDriftState,
} from '../io/drift-store.js';
import type { Logger } from '../io/logger.js';
import { KEY_META, type KeyMeta } from '../io/metadata.js';
import { errorMessage } from '../lib/errors.js';
import { parseJsonTree } from '../lib/json-tree.js';
import { BUILD } from '../lib/version.js';
import type { Family } from '../requests/batches.js';
import type { RunData } from '../pass/run-data.js';
import { readApiKey } from '../requests/key-parser.js';
import { KEY_PREFIX } from '../requests/keys.js';
import type { Assembler } from '../stats/assemble.js';
import { shapeDifferences, universesOf, valueDifferences } from '../stats/payload-diff.js';
import { type PayloadPart, partsOf } from '../stats/sections.js';

export type OnDrift = 'yield' | 'warn';

export interface DriftSettings {
  readonly onDrift: OnDrift;
  /** The API's cache TTL (its STATS_API_CACHE_TTL): how long ago a key with a given remaining life was written. */
  readonly apiTtlMs: number;
  /** Ours: a section the API embedded may have been written by us this long before. */
  readonly ourTtlMs: number;
}

/** The API computes before it writes: its instant may precede the write by this much. */
const COMPUTE_MARGIN_MS = 30_000;
/** PostgreSQL's statistics reach pg_stat_user_tables within this long of a commit (PGSTAT_MAX_INTERVAL). */
const STATS_LAG_MS = 60_000;
/**
 * Windows are widened to whole minutes: entries written within a minute of each other share
 * their instants, so the pass folds a few more cutoffs, not two per key. A wider window only
 * makes values comparable less often, never wrongly.
 */
const INSTANT_GRID_MS = 60_000;
/** Value differences not proven within this long are dropped; counter samples older than this are pruned. */
const PROOF_WINDOW_MS = 2 * 3600_000;
const MAX_SAMPLES = 100;

/** A key the API wrote, and what ours is for it. */
export interface ApiEntry {
  readonly key: string;
  readonly endpoint: Family;
  readonly value: string;
  /** The sections ours is made of (one with field '' for a section the API caches on its own). */
  readonly parts: readonly PayloadPart[];
  /** The instants the API's value may stem from; null when its remaining life says nothing (no TTL, or longer than the API's). */
  readonly instants: { readonly lo: Date; readonly hi: Date } | null;
}

/** A key the API wrote that stats-refresh cannot read: its own keys for that endpoint are then never read. */
export interface UnreadableKey {
  readonly key: string;
  readonly endpoints: readonly Family[];
  readonly why: string;
}

export interface ApiKeys {
  readonly entries: readonly ApiEntry[];
  readonly unreadable: readonly UnreadableKey[];
}

/** The endpoint whose answers a key holds; the sections cached on their own are the dashboard's. */
function endpointsOf(key: string): { endpoints: readonly Family[]; parts: PayloadPart[] | null; why: string } | null {
  const read = readApiKey(key);
  if (!read) return null;
  switch (read.kind) {
    case 'payload':
      return { endpoints: [read.family], parts: read.config ? partsOf(read.config) : null, why: 'its parameters do not read as one request the API accepts' };
    case 'section':
      return { endpoints: ['dashboard'], parts: read.period ? [['', { section: read.section, period: read.period }]] : null, why: 'its parameters are not one period' };
    case 'unknown':
      return { endpoints: read.families, parts: null, why: `the method ${read.method} is not one stats-refresh knows` };
  }
}

/** Whether ours embeds sections the API may have read from the cache (written up to a TTL earlier). */
const embedsCachedSections = (parts: readonly PayloadPart[]) =>
  parts.length > 1 && parts.some(([, request]) => ['summary', 'trends', 'geographic'].includes(request.section));

function recordedSha1(meta: string | null | undefined): string | undefined {
  try {
    const sha1 = (JSON.parse(meta ?? 'null') as Partial<KeyMeta> | null)?.sha1;
    return typeof sha1 === 'string' ? sha1 : undefined;
  } catch {
    return undefined;
  }
}

function legacyOwn(meta: string | undefined, nowMs: number): boolean {
  try {
    const { written_at, ttl_seconds } = JSON.parse(meta ?? 'null') as KeyMeta;
    return Date.parse(written_at) + ttl_seconds * 1000 > nowMs;
  } catch {
    return false;
  }
}

/**
 * The `stats_service:*` keys of `endpoints` that the API wrote (not ours: their value is not
 * the one we recorded writing), with their values; and the keys no request of ours reads.
 */
export async function findApiKeys(
  client: DriftClient & Parameters<typeof scanKeys>[0] & { hmget(key: string, ...fields: string[]): Promise<Array<string | null>> },
  endpoints: readonly Family[],
  now: Date,
  settings: DriftSettings,
): Promise<ApiKeys> {
  const keys = (await scanKeys(client, `${KEY_PREFIX}*`))
    .map((key) => ({ key, read: endpointsOf(key) }))
    .filter(({ read }) => read && read.endpoints.some((endpoint) => endpoints.includes(endpoint)))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
  if (keys.length === 0) return { entries: [], unreadable: [] };
  const [metas, prints] = await Promise.all([
    client.hmget(KEY_META, ...keys.map(({ key }) => key)),
    fingerprints(client, keys.map(({ key }) => key)),
  ]);
  const theirs = keys.filter(({ key }, index) => {
    const print = prints.get(key)!;
    if (print.sha1 === null) return false; // gone meanwhile
    const meta = metas[index] ?? undefined;
    const recorded = recordedSha1(meta);
    return recorded === undefined ? !legacyOwn(meta, now.getTime()) : recorded !== print.sha1;
  });
  const unreadable = theirs.flatMap(({ key, read }) => (read!.parts ? [] : [{ key, endpoints: read!.endpoints, why: read!.why }]));
  const readable = theirs.filter(({ read }) => read!.parts);
  const values = await readValues(client, readable.map(({ key }) => key));
  const entries = readable.flatMap(({ key, read }, index): ApiEntry[] => {
    const value = values[index];
    if (value === null || value === undefined) return [];
    const pttlMs = prints.get(key)!.pttlMs;
    const parts = read!.parts!;
    const written = now.getTime() - (settings.apiTtlMs - pttlMs);
    const plausible = pttlMs > 0 && pttlMs <= settings.apiTtlMs + 2_000;
    const spread = embedsCachedSections(parts) ? Math.max(settings.apiTtlMs, settings.ourTtlMs) : 0;
    return [
      {
        key,
        endpoint: read!.endpoints[0]!,
        value,
        parts,
        instants: plausible
          ? {
              lo: new Date(Math.floor((written - spread - COMPUTE_MARGIN_MS) / INSTANT_GRID_MS) * INSTANT_GRID_MS),
              hi: new Date(Math.ceil(written / INSTANT_GRID_MS) * INSTANT_GRID_MS),
            }
          : null,
      },
    ];
  });
  return { entries, unreadable };
}

/** What the pass must also fold: each entry's sections at both ends of its window (at `now` when it has none). */
export function entryNeeds(entries: readonly ApiEntry[], now: Date): Array<{ parts: readonly PayloadPart[]; at: Date }> {
  return entries.flatMap((entry) =>
    entry.instants ? [{ parts: entry.parts, at: entry.instants.lo }, { parts: entry.parts, at: entry.instants.hi }] : [{ parts: entry.parts, at: now }],
  );
}

export interface Comparison {
  readonly entry: ApiEntry;
  /** Whether ours could be built and the shapes compared. */
  readonly compared: boolean;
  readonly shape: readonly Difference[];
  /** null: the values could not be compared (why says why). */
  readonly values: readonly Difference[] | null;
  readonly why: string | null;
}

/** Compares every entry with ours; `assemblerAt` builds ours at an instant from the run's data. */
export function compareEntries(entries: readonly ApiEntry[], data: RunData, now: Date, assemblerAt: (at: Date) => Assembler): Comparison[] {
  const assemblers = new Map<number, Assembler>();
  const at = (instant: Date) => {
    let assembler = assemblers.get(instant.getTime());
    if (!assembler) assemblers.set(instant.getTime(), (assembler = assemblerAt(instant)));
    return assembler;
  };
  let universes: ReturnType<typeof universesOf> | null = null;
  return entries.map((entry): Comparison => {
    let api;
    try {
      api = parseJsonTree(entry.value);
    } catch (error) {
      return { entry, compared: true, shape: [{ kind: 'structure', path: '(the payload)', detail: `not JSON: ${errorMessage(error)}` }], values: null, why: null };
    }
    let high: string;
    let low: string | null = null;
    try {
      high = at(entry.instants?.hi ?? now).parts(entry.parts);
      if (entry.instants) low = at(entry.instants.lo).parts(entry.parts);
      universes ??= universesOf(data.scriptSlugs());
    } catch (error) {
      return { entry, compared: false, shape: [], values: null, why: `not comparable: ${errorMessage(error)}` };
    }
    const shape = shapeDifferences(api, parseJsonTree(high), universes);
    if (!entry.instants) return { entry, compared: true, shape, values: null, why: "values not comparable: its expiry does not say when the API computed it" };
    if (low !== high) return { entry, compared: true, shape, values: null, why: 'values not comparable: the data moved within the window its value may stem from' };
    return { entry, compared: true, shape, values: valueDifferences(api, parseJsonTree(high)), why: null };
  });
}

/** Endpoints a difference shows at: the geographic section is the dashboard's and the users'. */
function endpointsShowing(entry: ApiEntry, differences: readonly Difference[]): Family[] {
  const read = readApiKey(entry.key);
  const shared =
    (read?.kind === 'section' && read.section === 'geographic') ||
    differences.some((difference) => /^(geographic|geographic_distribution|countries)\b/.test(difference.path));
  return shared ? [...new Set<Family>([entry.endpoint, 'dashboard', 'users'])] : [entry.endpoint];
}

const equalCounters = (a: ChangeCounters, b: ChangeCounters) =>
  Object.keys(a).every((table) => a[table as keyof ChangeCounters] !== null && a[table as keyof ChangeCounters] === b[table as keyof ChangeCounters]);

/** Whether the counters prove the data still from before `since` to well after `foundAt`. */
function proven(pending: PendingValues, state: DriftState, counters: ChangeCounters, now: Date): boolean | null {
  const foundAt = Date.parse(pending.found_at);
  if (now.getTime() - foundAt < STATS_LAG_MS) return null; // not yet: the counters may still lag
  if (!equalCounters(pending.counters, counters)) return false;
  const before = Date.parse(pending.since) - STATS_LAG_MS;
  return state.history.some((sample) => Date.parse(sample.at) <= before && equalCounters(sample.counters, pending.counters));
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
  if (stale.length > 0) {
    for (const endpoint of stale) {
      logger.info({ endpoint, recorded_by: state.records.get(endpoint)!.build, build: BUILD }, 'drift recorded by another build forgotten: checking again');
      state.records.delete(endpoint);
    }
    await writeDriftState(client, { forget: stale });
  }
  return state;
}

export interface Judgement extends DriftUpdate {
  /** Drift found by this run (not recorded before). */
  readonly found: ReadonlyMap<Family, DriftRecord>;
}

/**
 * What this run's comparisons change in the shared state (pure): drift of shape recorded at
 * once, value differences kept until a later run's counters prove them (then recorded) or
 * show the data moved (then dropped), the counters sampled and old samples pruned.
 */
export function judge(
  state: DriftState,
  run: { comparisons: readonly Comparison[]; unreadable: readonly UnreadableKey[]; counters: ChangeCounters | null; now: Date },
): Judgement {
  const found = new Map<Family, DriftRecord>();
  const record = (endpoint: Family, key: string, differences: readonly Difference[]) => {
    if (state.records.has(endpoint) || found.has(endpoint)) return;
    found.set(endpoint, { endpoint, build: BUILD, detected_at: run.now.toISOString(), key, differences: differences.slice(0, 5) });
  };
  for (const { key, endpoints, why } of run.unreadable) {
    for (const endpoint of endpoints) record(endpoint, key, [{ kind: 'structure', path: '(the key)', detail: `a key the API wrote that stats-refresh cannot read: ${why}` }]);
  }
  const pending = new Map<string, PendingValues>();
  for (const { entry, shape, values } of run.comparisons) {
    if (shape.length > 0) {
      for (const endpoint of endpointsShowing(entry, shape)) record(endpoint, entry.key, shape);
    } else if (values && values.length > 0 && run.counters && entry.instants) {
      pending.set(entry.key, {
        endpoint: entry.endpoint,
        key: entry.key,
        differences: values,
        found_at: run.now.toISOString(),
        counters: run.counters,
        since: entry.instants.lo.toISOString(),
      });
    }
  }
  const settle: string[] = [];
  for (const [key, waiting] of state.pending) {
    if (pending.has(key)) continue;
    const proof = run.counters ? proven(waiting, state, run.counters, run.now) : false;
    const expired = run.now.getTime() - Date.parse(waiting.found_at) > PROOF_WINDOW_MS;
    if (proof === true) record(waiting.endpoint, key, waiting.differences);
    if (proof !== null || expired) settle.push(key);
  }
  const nowMs = run.now.getTime();
  const prune = state.history
    .filter((sample, index) => nowMs - Date.parse(sample.at) > PROOF_WINDOW_MS || index < state.history.length - MAX_SAMPLES)
    .map((sample) => sample.at);
  return {
    found,
    record: found,
    pending,
    settle,
    ...(run.counters ? { sample: { at: run.now.toISOString(), counters: run.counters } } : {}),
    prune,
  };
}

/** The error a config of a yielding endpoint fails with. */
export function driftError(record: DriftRecord): Error {
  const paths = record.differences.map((difference) => difference.path).join(', ');
  return new Error(
    `drift: the API's ${record.endpoint} payloads differ from what stats-refresh computes (${paths}); yielding to the API (stats-refresh verify tells more; clear --drift resumes)`,
  );
}

/** Deletes the keys we wrote for the yielding endpoints (those still holding our value), so the API computes its own. */
export async function withdrawKeys(client: DriftClient & { hgetall(key: string): Promise<Record<string, string>> }, yielding: ReadonlySet<Family>): Promise<string[]> {
  if (yielding.size === 0) return [];
  const ours = new Map<string, string>();
  for (const [key, meta] of Object.entries(await client.hgetall(KEY_META))) {
    const read = endpointsOf(key);
    const sha1 = recordedSha1(meta);
    if (read && sha1 && read.endpoints.some((endpoint) => yielding.has(endpoint))) ours.set(key, sha1);
  }
  return deleteIfUnchanged(client, ours);
}

/** A value's fingerprint, as our metadata records it and the drift check compares. */
export function sha1Of(value: string): string {
  return createHash('sha1').update(value).digest('hex');
}


/** The drift check of one run, between its two phases. */
export interface DriftCheck {
  readonly state: DriftState;
  readonly keys: ApiKeys;
  readonly settings: DriftSettings;
  readonly now: Date;
  /** Endpoints already yielding when the run started: their configs are not computed. */
  readonly yielding: ReadonlyMap<Family, DriftRecord>;
}

export type DriftCheckClient = DriftClient &
  Parameters<typeof scanKeys>[0] & { hmget(key: string, ...fields: string[]): Promise<Array<string | null>> };

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
    const keys = await findApiKeys(client, endpoints, now, settings);
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
  counters: ChangeCounters | null,
  report: (message: string, context: Record<string, string>) => void,
  logger: Logger,
): Promise<DriftOutcome> {
  const comparisons = compareEntries(check.keys.entries, data, check.now, assemblerAt);
  for (const comparison of comparisons) {
    logger.debug(
      { key: comparison.entry.key, shape: comparison.shape.length, values: comparison.values?.length ?? null, ...(comparison.why ? { why: comparison.why } : {}) },
      'compared with the API',
    );
  }
  const judgement = judge(check.state, { comparisons, unreadable: check.keys.unreadable, counters, now: check.now });
  // Found drift is acted on even when Redis refuses to keep it: this run knows.
  await writeDriftState(client, judgement).catch((error: unknown) => logger.warn({ err: redisFailure(error) }, 'drift state not written'));
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
