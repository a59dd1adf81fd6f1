/**
 * The refresher's core: plans a run, computes every config from shared sources, and
 * writes each payload whole to the key the API reads.
 */
import pLimit from 'p-limit';
import type { Family, RefreshConfig } from './requests/batches.js';
import { type CacheClient, type CacheEntry, writeEntries } from './io/cache.js';
import { type CachedSection, cachedSectionsOf, configLabel, payloadKey, sectionKey } from './requests/config-keys.js';
import type { Db } from './io/db.js';
import type { CopyPool } from './pass/copy.js';
import type { Logger } from './io/logger.js';
import { type FamilyRun, type KeyMeta, type MetaClient, writeRunMetadata } from './io/metadata.js';
import { planRun } from './plan.js';
import { pyJson } from './lib/pyjson.js';
import { redact } from './lib/redact.js';
import type { FailureReporter } from './io/reporter.js';
import { DEFAULT_RETRY, type RetryPolicy } from './lib/retry.js';
import { Sources } from './sources.js';
import { dashboardPayload, dashboardSection } from './stats/dashboard.js';
import { executionsPayload } from './stats/executions.js';
import { usersPayload } from './stats/users.js';
import type { Period } from './lib/time.js';

export interface RefreshOptions {
  readonly command: string;
  /** What to compute: batch configs, requests, learned requests (a key's first config wins). */
  readonly configs: readonly RefreshConfig[];
  /** The families whose batch this run is: their last run is recorded. */
  readonly families: readonly Family[];
  readonly now: Date;
  readonly ttlSeconds: number;
  readonly concurrency: number;
  /** Compute only: nothing is written and the payloads are returned. */
  readonly dryRun: boolean;
  /** Strings that must never appear in reported errors (passwords, tokens). */
  readonly secrets?: readonly string[];
  /** Aborting starts no new query; work in flight gets `gracePeriodMs` to finish. */
  readonly signal?: AbortSignal;
  readonly gracePeriodMs?: number;
  readonly retry?: RetryPolicy;
}

export interface RefreshDeps {
  readonly db: Db;
  /** The same pool as `db`'s, for the COPY passes. */
  readonly pool: CopyPool;
  /** Bytes received from PostgreSQL so far (the run logs its own share). */
  readonly dbBytesReceived?: () => number;
  /** Absent on a dry run. */
  readonly cache: (CacheClient & MetaClient) | null;
  readonly logger: Logger;
  readonly reporter: FailureReporter;
}

export interface ConfigFailure {
  readonly config: string;
  readonly error: string;
}

/** The run summary printed on stdout. */
export interface RefreshSummary {
  command: string;
  now: string;
  dry_run: boolean;
  total_refreshed: number;
  successful: number;
  failed: number;
  cache_keys: string[];
  failures: ConfigFailure[];
  duration_ms: number;
  /** SQL statements sent (retries included), as Sources reports them through `observe`. */
  statements: number;
  /** Set when a shutdown signal cut the run short. */
  interrupted?: string;
  /** Families not run because another run held their lock. */
  skipped?: Family[];
  /** Learned requests refreshed along with the families' batches (see io/learned.ts). */
  learned?: number;
  /** Dry run only: every entry that would be written, by key. */
  payloads?: Record<string, unknown>;
}

/** An entry ready to write, with how long after the run's start it was computed. */
interface TimedEntry extends CacheEntry {
  readonly computeMs: number;
}

function buildPayload(config: RefreshConfig, sources: Sources): Promise<unknown> {
  switch (config.family) {
    case 'dashboard':
      return dashboardPayload(config, sources);
    case 'executions':
      return executionsPayload(config, sources);
    case 'users':
      return usersPayload(config, sources);
  }
}

interface SectionEntry {
  readonly section: CachedSection;
  readonly period: Period;
  /** Configs that read this section through its own key: a failed write fails them. */
  readonly owners: RefreshConfig[];
}

/** The section entries the API caches on their own, one per (section, period) the run computes. */
function sectionEntriesOf(configs: readonly RefreshConfig[]): Map<string, SectionEntry> {
  const byKey = new Map<string, SectionEntry>();
  for (const config of configs) {
    for (const section of cachedSectionsOf(config)) {
      const key = sectionKey(section, config.period);
      const entry = byKey.get(key) ?? { section, period: config.period, owners: [] };
      entry.owners.push(config);
      byKey.set(key, entry);
    }
  }
  return byKey;
}

function messageOf(error: unknown, secrets: readonly string[]): string {
  const text = error instanceof Error ? error.message : String(error);
  return redact(text, secrets).split('\n')[0] ?? 'unknown error';
}

/**
 * Settles every task, but after `signal` aborts waits at most `graceMs` more; tasks still
 * running then are reported as `undefined`.
 */
async function settleWithinGrace<T>(
  tasks: ReadonlyArray<Promise<T>>,
  signal: AbortSignal | undefined,
  graceMs: number,
): Promise<Array<PromiseSettledResult<T> | undefined>> {
  const outcomes: Array<PromiseSettledResult<T> | undefined> = tasks.map(() => undefined);
  const all = Promise.all(
    tasks.map((task, index) =>
      task.then(
        (value) => void (outcomes[index] = { status: 'fulfilled', value }),
        (reason: unknown) => void (outcomes[index] = { status: 'rejected', reason }),
      ),
    ),
  );
  if (!signal) {
    await all;
    return outcomes;
  }
  let timer: NodeJS.Timeout | undefined;
  let start = () => undefined as void;
  const graceOver = new Promise<void>((resolve) => {
    start = () => {
      timer = setTimeout(resolve, graceMs);
    };
    if (signal.aborted) start();
    else signal.addEventListener('abort', start, { once: true });
  });
  await Promise.race([all, graceOver]);
  // A signal after this point must not start a grace timer that holds the process.
  signal.removeEventListener('abort', start);
  clearTimeout(timer);
  return [...outcomes];
}

/** One config per payload key, the first of each (a request may repeat a batch config). */
function distinctByKey(configs: readonly RefreshConfig[]): RefreshConfig[] {
  const keys = new Set<string>();
  return configs.filter((config) => !keys.has(payloadKey(config)) && Boolean(keys.add(payloadKey(config))));
}

/** Runs one refresh. Never throws for a failing config: failures are in the summary. */
export async function runRefresh(options: RefreshOptions, deps: RefreshDeps): Promise<RefreshSummary> {
  const startedAt = new Date();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const { logger, reporter } = deps;
  const secrets = options.secrets ?? [];
  const configs = distinctByKey(options.configs);
  const plan = planRun(configs, options.now);
  const bytesBefore = deps.dbBytesReceived?.() ?? 0;
  let statements = 0;
  const sources = new Sources(deps.db, deps.pool, plan, pLimit(options.concurrency), {
    observe: (query, ms, error, bytes) => {
      statements += 1;
      logger.debug({ query, ms: Math.round(ms), ...(bytes === undefined ? {} : { bytes }) }, error ? 'query failed' : 'query done');
    },
    onRetry: (query, attempt, delayMs, error) =>
      logger.warn({ query, attempt, delay_ms: delayMs, err: messageOf(error, secrets) }, 'query retried'),
    retry: options.retry ?? DEFAULT_RETRY,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  logger.info(
    { command: options.command, configs: configs.length, now: options.now.toISOString(), dry_run: options.dryRun },
    'refresh started',
  );

  const failures: ConfigFailure[] = [];
  const fail = (config: RefreshConfig, error: unknown) => {
    const label = configLabel(config);
    const message = messageOf(error, secrets);
    failures.push({ config: label, error: message });
    logger.error({ config: label, key: payloadKey(config), err: message }, 'config failed');
    reporter.report(`stats-refresh: config ${label} failed: ${message}`, { config: label, key: payloadKey(config) });
  };

  const sections = sectionEntriesOf(configs);
  const payloadTasks = configs.map(async (config): Promise<TimedEntry> => {
    const value = pyJson(await buildPayload(config, sources));
    logger.debug({ config: configLabel(config), ms: elapsed() }, 'config built');
    return { key: payloadKey(config), value, computeMs: elapsed() };
  });
  // A section that computed is written even when a config including it failed elsewhere.
  const sectionTasks = [...sections].map(async ([key, { section, period }]): Promise<TimedEntry> => {
    const value = pyJson(await dashboardSection(sources, section, period));
    return { key, value, computeMs: elapsed() };
  });
  const settled = await settleWithinGrace(
    [...payloadTasks, ...sectionTasks],
    options.signal,
    options.gracePeriodMs ?? 0,
  );
  const interrupted = options.signal?.aborted ? String(options.signal.reason ?? 'aborted') : undefined;
  // Grace is over: stop the statements still running on the server before the connections close.
  if (interrupted && settled.includes(undefined)) await sources.cancel();

  const entries = new Map<string, TimedEntry>();
  const ownEntries = new Map<RefreshConfig, TimedEntry[]>();
  configs.forEach((config, index) => {
    const outcome = settled[index];
    if (outcome?.status === 'fulfilled') {
      entries.set(outcome.value.key, outcome.value);
      ownEntries.set(config, [outcome.value]);
    } else {
      fail(config, outcome ? outcome.reason : new Error(`not finished before shutdown (${interrupted})`));
    }
  });
  [...sections.values()].forEach((section, index) => {
    const outcome = settled[configs.length + index];
    if (outcome?.status !== 'fulfilled') return; // its owners failed with the same error
    entries.set(outcome.value.key, outcome.value);
    for (const owner of section.owners) ownEntries.get(owner)?.push(outcome.value);
  });

  let written = new Set<string>();
  const succeeded = new Set(ownEntries.keys());
  if (!options.dryRun && deps.cache) {
    const writeFailures = await writeEntries(deps.cache, [...entries.values()], options.ttlSeconds);
    written = new Set([...entries.keys()].filter((key) => !writeFailures.has(key)));
    for (const [config, own] of ownEntries) {
      const failedKey = own.find((entry) => writeFailures.has(entry.key));
      if (!failedKey) continue;
      succeeded.delete(config);
      fail(config, new Error(`write failed: ${writeFailures.get(failedKey.key)!.message}`));
    }
  }

  const summary: RefreshSummary = {
    command: options.command,
    now: options.now.toISOString(),
    dry_run: options.dryRun,
    total_refreshed: configs.length,
    successful: succeeded.size,
    failed: configs.length - succeeded.size,
    cache_keys: options.dryRun ? [...entries.keys()] : [...written],
    failures,
    duration_ms: elapsed(),
    statements,
    ...(interrupted ? { interrupted } : {}),
  };
  if (options.dryRun) {
    summary.payloads = Object.fromEntries([...entries.values()].map((entry) => [entry.key, JSON.parse(entry.value)]));
  } else if (deps.cache && written.size + failures.length > 0) {
    await recordRun(deps.cache, options, { startedAt, configs, failures, written, entries, durationMs: elapsed() }).catch(
      (error: unknown) => logger.warn({ err: messageOf(error, secrets) }, 'run metadata not written'),
    );
  }
  logger.info(
    {
      command: options.command,
      successful: summary.successful,
      failed: summary.failed,
      keys: summary.cache_keys.length,
      duration_ms: summary.duration_ms,
      ...(deps.dbBytesReceived ? { db_bytes: deps.dbBytesReceived() - bytesBefore } : {}),
      max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      ...(interrupted ? { interrupted } : {}),
    },
    'refresh finished',
  );
  return summary;
}

async function recordRun(
  client: MetaClient,
  options: RefreshOptions,
  run: {
    startedAt: Date;
    configs: readonly RefreshConfig[];
    failures: readonly ConfigFailure[];
    written: ReadonlySet<string>;
    entries: ReadonlyMap<string, TimedEntry>;
    durationMs: number;
  },
): Promise<void> {
  const writtenAt = new Date().toISOString();
  const keys = new Map<string, KeyMeta>(
    [...run.written].map((key) => [
      key,
      { written_at: writtenAt, compute_ms: run.entries.get(key)!.computeMs, ttl_seconds: options.ttlSeconds },
    ]),
  );
  const runs: FamilyRun[] = options.families.map((family) => {
    const labels = new Set(run.configs.filter((config) => config.family === family).map(configLabel));
    const failures = run.failures.filter((failure) => labels.has(failure.config));
    return {
      family,
      started_at: run.startedAt.toISOString(),
      duration_ms: run.durationMs,
      now: options.now.toISOString(),
      successful: labels.size - failures.length,
      failed: failures.length,
      failures,
    };
  });
  await writeRunMetadata(client, keys, runs);
}
