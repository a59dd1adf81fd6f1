/**
 * One refresh: plan what the requests need, load it (phase 1), assemble every payload from
 * it (phase 2), write each whole to the key the API reads, and record the run. Never throws
 * for a failing request: failures are in the result. `runRefresh` is the list of its phases.
 */
import { type CacheClient, type CacheEntry, writeEntries } from '../io/cache.js';
import type { Db } from '../io/db.js';
import type { DriftRecord } from '../io/drift-store.js';
import type { Logger } from '../io/logger.js';
import { forgetKeys, type MetaClient, writeRunMetadata } from '../io/metadata.js';
import { redisFailure } from '../io/redis-client.js';
import type { FailureReporter } from '../io/reporter.js';
import { errorMessage } from '../lib/errors.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../lib/retry.js';
import { refusedColumns } from '../pass/catalog.js';
import type { CopyPool } from '../pass/copy.js';
import type { Load, MemorySource } from '../pass/load.js';
import type { Period } from '../lib/time.js';
import type { Family } from '../requests/batches.js';
import { type CachedSection, cachedSectionsOf, payloadKey, requestLabel, sectionKey } from '../requests/request-keys.js';
import { entryNeeds } from '../stats/api-entries.js';
import { type ChangeProof, driftError } from '../stats/drift-judgement.js';
import { partsOf } from '../stats/sections.js';
import { sectionTextsOf } from '../state/section-texts.js';
import {
  type DriftCheck,
  type DriftCheckClient,
  type DriftOutcome,
  type DriftSettings,
  finishDriftCheck,
  sha1Of,
  startDriftCheck,
  withdrawKeys,
} from './drift-check.js';
import { assemblerOf, type CheckedCatalog, checkCatalog, loadSections, statementLogs } from './phases.js';
import { familyRunsOf, keyMetaOf, type PlannedRequest, type RefreshRun, type RequestError, type RequestResult } from './results.js';

export interface RefreshOptions {
  readonly command: string;
  /** What to compute: batch requests, requests given, learned requests (a key's first request wins). */
  readonly requests: readonly PlannedRequest[];
  /** The families whose batch this run is (their last run is recorded), and those skipped for their lock. */
  readonly families: readonly Family[];
  readonly skipped?: readonly Family[];
  readonly now: Date;
  readonly ttlSeconds: number;
  readonly concurrency: number;
  /** Compute only: nothing is written and the payloads are returned. */
  readonly dryRun: boolean;
  /** The drift check (src/run/drift-check.ts); absent or null: no check (a dry run never checks). */
  readonly drift?: DriftSettings | null;
  /** Aborting starts no new statement; those in flight get `gracePeriodMs` to finish. */
  readonly signal?: AbortSignal;
  readonly gracePeriodMs?: number;
  /** The load's bound (see LoadOptions.deadlineMs); absent: none. */
  readonly loadDeadlineMs?: number;
  readonly retry?: RetryPolicy;
}

export interface RefreshDeps {
  readonly db: Db;
  /** The same pool as `db`'s, for the COPY passes. */
  readonly pool: CopyPool;
  /** Bytes received from PostgreSQL so far (the run logs its own share). */
  readonly dbBytesReceived?: () => number;
  /** Absent on a dry run. */
  readonly cache: (CacheClient & MetaClient & DriftCheckClient) | null;
  readonly logger: Logger;
  readonly reporter: FailureReporter;
  /** Strings that must never appear in reported errors (passwords, tokens). */
  readonly secrets: readonly string[];
  /** Rows kept in memory (schedule's change mode): the load reads only what changed. */
  readonly memory?: MemorySource;
}

/** When the run started, and how long ago that was. */
interface RunClock {
  readonly startedAt: Date;
  elapsed(): number;
  /** PostgreSQL bytes received by this run so far, when the connections count them. */
  dbBytes(): number | null;
}

interface TimedEntry extends CacheEntry {
  readonly computeMs: number;
}

interface SectionEntry {
  readonly section: CachedSection;
  readonly period: Period;
  /** The first request that holds it: the key is counted as its. */
  readonly owner: PlannedRequest;
}

/** What phase 2 built: every entry to write, the requests that failed, the sections cached on their own. */
interface Assembled {
  readonly entries: ReadonlyMap<string, TimedEntry>;
  readonly failures: ReadonlyMap<PlannedRequest, RequestError>;
  readonly sections: ReadonlyMap<string, SectionEntry>;
}

export async function runRefresh(options: RefreshOptions, deps: RefreshDeps): Promise<RefreshRun> {
  const clock = startClock(deps);
  const requests = distinctByKey(options.requests);
  logStart(options, requests, deps.logger);
  const check = await startDrift(options, deps, requests);
  const { catalog, proof } = await checkRunCatalog(options, deps, check);
  const load = await loadPlanned(options, deps, catalog, computedRequests(requests, check), check);
  const interrupted = interruptionOf(options.signal);
  const drift = await finishDrift(deps, check, catalog, proof, load);
  const yielding = drift?.yielding ?? new Map<Family, DriftRecord>();
  const assembled = assemble(requests, load, catalog, options.now, yielding, clock, deps.secrets, deps.memory);
  const writeFailures = await write(options, deps, assembled);
  await withdraw(deps, yielding);
  const results = resultsOf(requests, assembled, writeFailures, clock, deps.secrets);
  reportFailures(results, deps);
  const run = runOf(options, clock, { statements: load.statements, dbMs: Math.round(load.ms), interrupted, results }, assembled, writeFailures, drift);
  await recordRun(run, deps);
  logFinish(run, clock, deps.logger);
  return run;
}

function startClock(deps: RefreshDeps): RunClock {
  const startedAt = new Date();
  const started = performance.now();
  const bytesBefore = deps.dbBytesReceived?.() ?? 0;
  return {
    startedAt,
    elapsed: () => Math.round(performance.now() - started),
    dbBytes: () => (deps.dbBytesReceived ? deps.dbBytesReceived() - bytesBefore : null),
  };
}

/** One request per payload key, the first of each (a request may repeat a batch request). */
function distinctByKey(requests: readonly PlannedRequest[]): PlannedRequest[] {
  const keys = new Set<string>();
  return requests.filter(({ request }) => !keys.has(payloadKey(request)) && Boolean(keys.add(payloadKey(request))));
}

function logStart(options: RefreshOptions, requests: readonly PlannedRequest[], logger: Logger): void {
  logger.info(
    // `configs`: the field log readers know; the code says requests.
    { command: options.command, configs: requests.length, now: options.now.toISOString(), dry_run: options.dryRun },
    'refresh started',
  );
}

const retryOf = (options: RefreshOptions): RetryPolicy => options.retry ?? DEFAULT_RETRY;

/** The run's catalog, and the change counters the drift check may judge with (null: not read by this run). */
interface RunCatalog {
  readonly catalog: CheckedCatalog;
  readonly proof: ChangeProof | null;
}

/**
 * Whether the drift check will judge with the tables' change counters: to prove a value
 * difference (an API key compared) or one waiting for proof, or to keep a difference waiting
 * with them (an unreadable key). With none of these, judge() uses them for one thing only: a
 * sample of the history, which can only ever help a later difference be proven.
 */
function judgesWithCounters(check: DriftCheck | null): boolean {
  return check !== null && (check.keys.entries.length > 0 || check.keys.unreadable.length > 0 || check.state.pending.size > 0);
}

/**
 * The catalog (column types, change counters) with the columns refused; when it cannot be
 * read, every column is refused with that reason: nothing is decoded unchecked. With rows in
 * memory, the column types kept from the last read while the probe shows the same columns.
 */
async function checkRunCatalog(options: RefreshOptions, deps: RefreshDeps, check: DriftCheck | null): Promise<RunCatalog> {
  // The counters count updates, which the probe does not see (a run's progress): a kept catalog
  // has none, so a run whose drift check judges with them reads them afresh. Otherwise the run
  // leaves no history sample rather than a stale one: a sample missing can only withhold a proof
  // (a difference settles unproven), never make one, and no drift is recorded without proof.
  const kept = judgesWithCounters(check) ? null : (deps.memory?.reads.catalog() ?? null);
  const catalog: CheckedCatalog = kept
    ? { catalog: kept, refused: refusedColumns(kept), statements: 0, ms: 0 }
    : await checkCatalog(
        deps,
        { retry: retryOf(options), ...(options.signal ? { signal: options.signal } : {}), ...statementLogs(deps.logger) },
        deps.secrets,
      );
  if (catalog.catalog !== null) for (const error of catalog.refused.values()) deps.logger.error({ err: error }, 'column refused');
  if (kept || catalog.catalog === null) return { catalog, proof: null };
  deps.memory?.reads.keepCatalog(catalog.catalog);
  return { catalog, proof: catalog.catalog };
}

/** Reads the drift state and the API's own keys before the load, which computes them too; null: no check. */
async function startDrift(options: RefreshOptions, deps: RefreshDeps, requests: readonly PlannedRequest[]): Promise<DriftCheck | null> {
  if (!options.drift || options.dryRun || !deps.cache) return null;
  const families = [...new Set(requests.map(({ request }) => request.family))];
  return startDriftCheck(deps.cache, families, options.now, options.drift, deps.logger);
}

/** An endpoint already yielding to the API is not computed; the API's keys are still compared. */
function computedRequests(requests: readonly PlannedRequest[], check: DriftCheck | null): PlannedRequest[] {
  return requests.filter(({ request }) => !check?.yielding.has(request.family));
}

/** Phase 1: what the computed requests and the API's keys read, loaded once. */
function loadPlanned(
  options: RefreshOptions,
  deps: RefreshDeps,
  catalog: CheckedCatalog,
  computed: readonly PlannedRequest[],
  check: DriftCheck | null,
): Promise<Load> {
  const groups = [{ parts: computed.flatMap(({ request }) => partsOf(request)), at: options.now }, ...(check ? entryNeeds(check.keys.entries, options.now) : [])];
  return loadSections(groups, catalog, deps, {
    concurrency: options.concurrency,
    retry: retryOf(options),
    gracePeriodMs: options.gracePeriodMs ?? 0,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.loadDeadlineMs === undefined ? {} : { deadlineMs: options.loadDeadlineMs }),
    ...statementLogs(deps.logger),
  });
}

/** The shutdown signal that cut the load short, if one did. */
function interruptionOf(signal: AbortSignal | undefined): string | null {
  return signal?.aborted ? String(signal.reason ?? 'aborted') : null;
}

/** Compares the API's keys with ours and records what differs; null when no check ran. */
async function finishDrift(deps: RefreshDeps, check: DriftCheck | null, catalog: CheckedCatalog, proof: ChangeProof | null, load: Load): Promise<DriftOutcome | null> {
  if (!check || !deps.cache) return null;
  return finishDriftCheck(deps.cache, check, load.data, assemblerOf(load.data, catalog), proof, deps.reporter.report, deps.logger);
}

/** The section entries the API caches on their own, one per (section, period) of the requests. */
function sectionEntriesOf(requests: readonly PlannedRequest[]): Map<string, SectionEntry> {
  const byKey = new Map<string, SectionEntry>();
  for (const planned of requests) {
    for (const section of cachedSectionsOf(planned.request)) {
      const key = sectionKey(section, planned.request.period);
      if (!byKey.has(key)) byKey.set(key, { section, period: planned.request.period, owner: planned });
    }
  }
  return byKey;
}

/** Phase 2: every payload, and the sections the API caches on their own, as the JSON text to write. */
function assemble(
  requests: readonly PlannedRequest[],
  load: Load,
  catalog: CheckedCatalog,
  now: Date,
  yielding: ReadonlyMap<Family, DriftRecord>,
  clock: RunClock,
  secrets: readonly string[],
  memory: MemorySource | undefined,
): Assembled {
  // With rows in memory, the texts of the last run's sections are given again while their inputs are the same.
  const kept = sectionTextsOf(memory);
  kept?.beginRun();
  const assembler = assemblerOf(load.data, catalog, kept)(now);
  const entries = new Map<string, TimedEntry>();
  const failures = new Map<PlannedRequest, RequestError>();
  for (const planned of requests) {
    const key = payloadKey(planned.request);
    const record = yielding.get(planned.request.family);
    if (record) {
      failures.set(planned, { kind: 'yielded', key, message: errorMessage(driftError(record), secrets) });
      continue;
    }
    try {
      const value = assembler.payload(planned.request);
      const computeMs = clock.elapsed();
      entries.set(key, { key, value, computeMs });
    } catch (error) {
      failures.set(planned, { kind: 'compute', key, message: errorMessage(error, secrets) });
    }
  }
  // The sections cached on their own are the dashboard's answers.
  const sections = yielding.has('dashboard') ? new Map<string, SectionEntry>() : sectionEntriesOf(requests);
  for (const [key, { section, period }] of sections) {
    try {
      entries.set(key, { key, value: assembler.section({ section, period }), computeMs: clock.elapsed() });
    } catch {
      // Its requests failed with the same error.
    }
  }
  return { entries, failures, sections };
}

/** Writes every entry built; returns the error of each key not written (none on a dry run). */
async function write(options: RefreshOptions, deps: RefreshDeps, assembled: Assembled): Promise<ReadonlyMap<string, Error>> {
  if (options.dryRun || !deps.cache) return new Map();
  return writeEntries(deps.cache, [...assembled.entries.values()], options.ttlSeconds);
}

/** Deletes our keys of the endpoints yielding to the API, and what our metadata says of them. */
async function withdraw(deps: RefreshDeps, yielding: ReadonlyMap<Family, DriftRecord>): Promise<void> {
  if (!deps.cache || yielding.size === 0) return;
  const endpoints = new Set(yielding.keys());
  try {
    const deleted = await withdrawKeys(deps.cache, endpoints);
    if (deleted.length === 0) return;
    await forgetKeys(deps.cache, deleted);
    deps.logger.info({ endpoints: [...endpoints], deleted: deleted.length }, 'withdrew our keys of the endpoints yielding to the API');
  } catch (error) {
    deps.logger.warn({ err: redisFailure(error) }, 'our keys of the endpoints yielding to the API not withdrawn');
  }
}

/** The first key `planned` reads (its payload's, then its sections') that was not written, as its failure. */
function writeFailureOf(planned: PlannedRequest, writeFailures: ReadonlyMap<string, Error>, secrets: readonly string[]): RequestError | null {
  const { request } = planned;
  const reads = [payloadKey(request), ...cachedSectionsOf(request).map((section) => sectionKey(section, request.period))];
  const unwritten = reads.find((read) => writeFailures.has(read));
  if (unwritten === undefined) return null;
  return { kind: 'write', key: unwritten, message: `write failed for ${unwritten}: ${errorMessage(writeFailures.get(unwritten), secrets)}` };
}

/** One result per request: the keys it was first to hold that were written, and why it failed. */
function resultsOf(
  requests: readonly PlannedRequest[],
  { entries, failures, sections }: Assembled,
  writeFailures: ReadonlyMap<string, Error>,
  clock: RunClock,
  secrets: readonly string[],
): RequestResult[] {
  return requests.map((planned): RequestResult => {
    const { request } = planned;
    const key = payloadKey(request);
    const owned = [key, ...[...sections].filter(([, entry]) => entry.owner === planned).map(([sectionKey]) => sectionKey)];
    return {
      ...planned,
      family: request.family,
      label: requestLabel(request),
      key,
      written: owned.filter((own) => entries.has(own) && !writeFailures.has(own)),
      error: failures.get(planned) ?? writeFailureOf(planned, writeFailures, secrets),
      computeMs: entries.get(key)?.computeMs ?? clock.elapsed(),
    };
  });
}

/** One error line and one report per failed request, naming the key it left as it was. */
function reportFailures(results: readonly RequestResult[], { logger, reporter }: RefreshDeps): void {
  for (const { label, error } of results) {
    if (error === null) continue;
    logger.error({ config: label, key: error.key, err: error.message }, 'config failed');
    reporter.report(`stats-refresh: config ${label} failed: ${error.message}`, { config: label, key: error.key });
  }
}

function runOf(
  options: RefreshOptions,
  clock: RunClock,
  { statements, dbMs, interrupted, results }: Pick<RefreshRun, 'statements' | 'dbMs' | 'interrupted' | 'results'>,
  { entries }: Assembled,
  writeFailures: ReadonlyMap<string, Error>,
  drift: DriftOutcome | null,
): RefreshRun {
  return {
    command: options.command,
    now: options.now,
    startedAt: clock.startedAt,
    dryRun: options.dryRun,
    ttlSeconds: options.ttlSeconds,
    durationMs: clock.elapsed(),
    statements,
    dbMs,
    families: options.families,
    skipped: options.skipped ?? [],
    interrupted,
    results,
    payloads: options.dryRun ? new Map([...entries].map(([key, entry]) => [key, entry.value])) : null,
    sha1: new Map([...entries].filter(([key]) => !writeFailures.has(key)).map(([key, entry]) => [key, sha1Of(entry.value)])),
    drift: drift?.recorded ?? new Map(),
  };
}

/** What each written key is and each family's last run, in our metadata; a failure to record is a warning. */
async function recordRun(run: RefreshRun, deps: RefreshDeps): Promise<void> {
  if (run.dryRun || !deps.cache || !run.results.some((result) => result.written.length > 0 || result.error !== null)) return;
  await writeRunMetadata(deps.cache, keyMetaOf(run, new Date()), familyRunsOf(run)).catch((error: unknown) =>
    deps.logger.warn({ err: error }, 'run metadata not written'),
  );
}

function logFinish(run: RefreshRun, clock: RunClock, logger: Logger): void {
  const failed = run.results.filter((result) => result.error !== null).length;
  const dbBytes = clock.dbBytes();
  logger.info(
    {
      command: run.command,
      successful: run.results.length - failed,
      failed,
      keys: run.results.reduce((sum, result) => sum + result.written.length, 0),
      duration_ms: run.durationMs,
      ...(dbBytes === null ? {} : { db_bytes: dbBytes }),
      max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      ...(run.interrupted ? { interrupted: run.interrupted } : {}),
    },
    'refresh finished',
  );
}
