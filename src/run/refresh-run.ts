/**
 * One refresh: plan what the configs need, load it (phase 1), assemble every payload from
 * it (phase 2), write each whole to the key the API reads, and record the run. Never throws
 * for a failing config: failures are in the result.
 */
import { type CacheClient, type CacheEntry, redisFailure, writeEntries } from '../io/cache.js';
import type { Db } from '../io/db.js';
import type { Logger } from '../io/logger.js';
import { forgetKeys, type MetaClient, writeRunMetadata } from '../io/metadata.js';
import type { DriftRecord } from '../io/drift-store.js';
import type { FailureReporter } from '../io/reporter.js';
import { errorMessage } from '../lib/errors.js';
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from '../lib/retry.js';
import { type Catalog, type Column, DECODED_COLUMNS, readCatalog, refusedColumns } from '../pass/catalog.js';
import type { Period } from '../lib/time.js';
import type { CopyPool } from '../pass/copy.js';
import { loadRunData } from '../pass/load.js';
import type { Family } from '../requests/batches.js';
import { type DriftCheckClient, type DriftSettings, finishDriftCheck, sha1Of, startDriftCheck, withdrawKeys } from './drift-check.js';
import { entryNeeds } from '../stats/api-entries.js';
import { driftError } from '../stats/drift-judgement.js';
import { type CachedSection, cachedSectionsOf, requestLabel, payloadKey, sectionKey } from '../requests/request-keys.js';
import { Assembler } from '../stats/assemble.js';
import { partsOf, planSections } from '../stats/sections.js';
import { type RequestResult, familyRunsOf, keyMetaOf, type PlannedRequest, type RefreshRun } from './results.js';

export interface RefreshOptions {
  readonly command: string;
  /** What to compute: batch configs, requests, learned requests (a key's first config wins). */
  readonly configs: readonly PlannedRequest[];
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
}

interface TimedEntry extends CacheEntry {
  readonly computeMs: number;
}

/** One config per payload key, the first of each (a request may repeat a batch config). */
function distinctByKey(configs: readonly PlannedRequest[]): PlannedRequest[] {
  const keys = new Set<string>();
  return configs.filter(({ config }) => !keys.has(payloadKey(config)) && Boolean(keys.add(payloadKey(config))));
}

interface SectionEntry {
  readonly section: CachedSection;
  readonly period: Period;
  /** The first config that holds it: the key is counted as its. */
  readonly owner: PlannedRequest;
}

/** The section entries the API caches on their own, one per (section, period) of the configs. */
function sectionEntriesOf(configs: readonly PlannedRequest[]): Map<string, SectionEntry> {
  const byKey = new Map<string, SectionEntry>();
  for (const planned of configs) {
    for (const section of cachedSectionsOf(planned.config)) {
      const key = sectionKey(section, planned.config.period);
      if (!byKey.has(key)) byKey.set(key, { section, period: planned.config.period, owner: planned });
    }
  }
  return byKey;
}

/** Deletes our keys of the endpoints yielding to the API, and what our metadata says of them. */
async function withdraw(cache: DriftCheckClient & MetaClient, endpoints: ReadonlySet<Family>, logger: Logger): Promise<void> {
  try {
    const deleted = await withdrawKeys(cache, endpoints);
    if (deleted.length === 0) return;
    await forgetKeys(cache, deleted);
    logger.info({ endpoints: [...endpoints], deleted: deleted.length }, 'withdrew our keys of the endpoints yielding to the API');
  } catch (error) {
    logger.warn({ err: redisFailure(error) }, 'our keys of the endpoints yielding to the API not withdrawn');
  }
}

/**
 * The catalog (column types, change counters) with the columns refused; when it cannot be
 * read, every column is refused with that reason: nothing is decoded unchecked.
 */
async function checkCatalog(
  deps: RefreshDeps,
  retry: RetryPolicy,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<{ catalog: Catalog | null; refused: Map<Column, Error>; ms: number }> {
  const started = performance.now();
  try {
    const catalog = await withRetry(
      () => readCatalog(deps.db),
      retry,
      (attempt, delayMs, error) => logger.warn({ query: 'catalog', attempt, delay_ms: delayMs, err: error }, 'query retried'),
      // After a shutdown signal no statement starts again, a retry included.
      () => !signal?.aborted,
    );
    logger.debug({ query: 'catalog', ms: Math.round(performance.now() - started) }, 'query done');
    const refused = refusedColumns(catalog);
    for (const error of refused.values()) logger.error({ err: error }, 'column refused');
    return { catalog, refused, ms: performance.now() - started };
  } catch (error) {
    logger.debug({ query: 'catalog', ms: Math.round(performance.now() - started) }, 'query failed');
    const cause = new Error(`query catalog failed: ${errorMessage(error, deps.secrets)}`);
    return {
      catalog: null,
      refused: new Map(Object.keys(DECODED_COLUMNS).map((column) => [column as Column, cause])),
      ms: performance.now() - started,
    };
  }
}

export async function runRefresh(options: RefreshOptions, deps: RefreshDeps): Promise<RefreshRun> {
  const startedAt = new Date();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const { logger, reporter, secrets } = deps;
  const configs = distinctByKey(options.configs);
  const bytesBefore = deps.dbBytesReceived?.() ?? 0;
  logger.info(
    { command: options.command, configs: configs.length, now: options.now.toISOString(), dry_run: options.dryRun },
    'refresh started',
  );

  const retry = options.retry ?? DEFAULT_RETRY;
  const { catalog, refused, ms: catalogMs } = await checkCatalog(deps, retry, logger, options.signal);
  let dbMs = catalogMs;
  const check =
    options.drift && !options.dryRun && deps.cache
      ? await startDriftCheck(deps.cache, [...new Set(configs.map(({ config }) => config.family))], options.now, options.drift, logger)
      : null;
  // An endpoint already yielding to the API is not computed; the API's keys are still compared.
  const computed = configs.filter(({ config }) => !check?.yielding.has(config.family));
  const plan = planSections(
    [{ parts: computed.flatMap(({ config }) => partsOf(config)), at: options.now }, ...(check ? entryNeeds(check.keys.entries, options.now) : [])],
    refused,
  );
  const { data, statements } = await loadRunData(plan, deps, {
    concurrency: options.concurrency,
    retry,
    gracePeriodMs: options.gracePeriodMs ?? 0,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.loadDeadlineMs === undefined ? {} : { deadlineMs: options.loadDeadlineMs }),
    observe: (query, ms, error, bytes) => {
      dbMs += ms;
      logger.debug({ query, ms: Math.round(ms), ...(bytes === undefined ? {} : { bytes }) }, error ? 'query failed' : 'query done');
    },
    onRetry: (query, attempt, delayMs, error) => logger.warn({ query, attempt, delay_ms: delayMs, err: error }, 'query retried'),
  });
  const interrupted = options.signal?.aborted ? String(options.signal.reason ?? 'aborted') : null;

  const drift =
    check && deps.cache
      ? await finishDriftCheck(deps.cache, check, data, (at) => new Assembler(data, at, refused), catalog, reporter.report, logger)
      : null;
  const yielding = drift?.yielding ?? new Map<Family, DriftRecord>();
  const assembler = new Assembler(data, options.now, refused);
  const entries = new Map<string, TimedEntry>();
  const errors = new Map<PlannedRequest, string>();
  for (const planned of configs) {
    const record = yielding.get(planned.config.family);
    try {
      if (record) throw driftError(record);
      const value = assembler.payload(planned.config);
      const computeMs = elapsed();
      entries.set(payloadKey(planned.config), { key: payloadKey(planned.config), value, computeMs });
      logger.debug({ config: requestLabel(planned.config), ms: computeMs }, 'config built');
    } catch (error) {
      errors.set(planned, errorMessage(error, secrets));
    }
  }
  // The sections cached on their own are the dashboard's answers.
  const sections = yielding.has('dashboard') ? new Map<string, SectionEntry>() : sectionEntriesOf(configs);
  for (const [key, { section, period }] of sections) {
    try {
      entries.set(key, { key, value: assembler.section({ section, period }), computeMs: elapsed() });
    } catch {
      // Its configs failed with the same error.
    }
  }

  const writeFailures = options.dryRun || !deps.cache ? new Map<string, Error>() : await writeEntries(deps.cache, [...entries.values()], options.ttlSeconds);
  if (deps.cache && yielding.size > 0) await withdraw(deps.cache, new Set(yielding.keys()), logger);
  const results = configs.map((planned): RequestResult => {
    const { config } = planned;
    const key = payloadKey(config);
    const owned = [key, ...[...sections].filter(([, entry]) => entry.owner === planned).map(([sectionKey]) => sectionKey)];
    const reads = [key, ...cachedSectionsOf(config).map((section) => sectionKey(section, config.period))];
    const unwritten = reads.find((read) => writeFailures.has(read));
    const error =
      errors.get(planned) ?? (unwritten ? `write failed for ${unwritten}: ${errorMessage(writeFailures.get(unwritten), secrets)}` : null);
    return {
      ...planned,
      family: config.family,
      label: requestLabel(config),
      key,
      written: owned.filter((own) => entries.has(own) && !writeFailures.has(own)),
      error,
      computeMs: entries.get(key)?.computeMs ?? elapsed(),
    };
  });
  for (const result of results) {
    if (result.error === null) continue;
    // The key a failed write left as it was, else the payload's (kept as it was too).
    const key = writeFailures.has(result.key) ? result.key : ([...writeFailures.keys()].find((failed) => result.error!.includes(failed)) ?? result.key);
    logger.error({ config: result.label, key, err: result.error }, 'config failed');
    reporter.report(`stats-refresh: config ${result.label} failed: ${result.error}`, { config: result.label, key });
  }

  const run: RefreshRun = {
    command: options.command,
    now: options.now,
    startedAt,
    dryRun: options.dryRun,
    ttlSeconds: options.ttlSeconds,
    durationMs: elapsed(),
    statements: statements + 1,
    dbMs: Math.round(dbMs),
    families: options.families,
    skipped: options.skipped ?? [],
    interrupted,
    results,
    payloads: options.dryRun ? new Map([...entries].map(([key, entry]) => [key, entry.value])) : null,
    sha1: new Map([...entries].filter(([key]) => !writeFailures.has(key)).map(([key, entry]) => [key, sha1Of(entry.value)])),
    drift: drift?.recorded ?? new Map(),
  };
  if (!options.dryRun && deps.cache && results.some((result) => result.written.length > 0 || result.error !== null)) {
    await writeRunMetadata(deps.cache, keyMetaOf(run, new Date()), familyRunsOf(run)).catch((error: unknown) =>
      logger.warn({ err: error }, 'run metadata not written'),
    );
  }
  const failed = results.filter((result) => result.error !== null).length;
  logger.info(
    {
      command: options.command,
      successful: results.length - failed,
      failed,
      keys: results.reduce((sum, result) => sum + result.written.length, 0),
      duration_ms: run.durationMs,
      ...(deps.dbBytesReceived ? { db_bytes: deps.dbBytesReceived() - bytesBefore } : {}),
      max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      ...(interrupted ? { interrupted } : {}),
    },
    'refresh finished',
  );
  return run;
}
