/**
 * The refresher's core: plans a run, computes every config of the requested families
 * from shared sources, and writes each payload whole to the key the API reads.
 */
import pLimit from 'p-limit';
import { type Family, configsFor, type RefreshConfig } from './batches.js';
import { type CacheClient, type CacheEntry, writeEntries } from './cache.js';
import { type CachedSection, cachedSectionsOf, configLabel, payloadKey, sectionKey } from './config-keys.js';
import type { Db } from './db.js';
import type { Logger } from './logger.js';
import { planRun } from './plan.js';
import { pyJson } from './pyjson.js';
import { redact } from './redact.js';
import type { FailureReporter } from './reporter.js';
import { Sources } from './sources.js';
import type { Period } from './time.js';
import { dashboardPayload, dashboardSection } from './stats/dashboard.js';
import { executionsPayload } from './stats/executions.js';
import { usersPayload } from './stats/users.js';

export interface RefreshOptions {
  readonly command: string;
  readonly families: readonly Family[];
  readonly now: Date;
  readonly ttlSeconds: number;
  readonly concurrency: number;
  /** Compute only: nothing is written and the payloads are returned. */
  readonly dryRun: boolean;
  /** Strings that must never appear in reported errors (passwords, tokens). */
  readonly secrets?: readonly string[];
}

export interface RefreshDeps {
  readonly db: Db;
  /** Absent on a dry run. */
  readonly cache: CacheClient | null;
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
  /** Dry run only: every entry that would be written, by key. */
  payloads?: Record<string, unknown>;
}

interface BuiltConfig {
  readonly config: RefreshConfig;
  readonly entries: CacheEntry[];
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

async function buildPayloadEntry(config: RefreshConfig, sources: Sources): Promise<CacheEntry> {
  return { key: payloadKey(config), value: pyJson(await buildPayload(config, sources)) };
}

interface SectionEntry {
  readonly section: CachedSection;
  readonly period: Period;
  /** Configs that read this section through its own key: a failed write fails them. */
  readonly owners: RefreshConfig[];
}

/** The section entries the API caches on their own, one per (section, period) the run computes. */
function sectionEntriesOf(configs: readonly RefreshConfig[]): SectionEntry[] {
  const byKey = new Map<string, SectionEntry>();
  for (const config of configs) {
    for (const section of cachedSectionsOf(config)) {
      const key = sectionKey(section, config.period);
      const entry = byKey.get(key) ?? { section, period: config.period, owners: [] };
      entry.owners.push(config);
      byKey.set(key, entry);
    }
  }
  return [...byKey.values()];
}

function messageOf(error: unknown, secrets: readonly string[]): string {
  const text = error instanceof Error ? error.message : String(error);
  return redact(text, secrets).split('\n')[0] ?? 'unknown error';
}

/** Runs one refresh. Never throws for a failing config: failures are in the summary. */
export async function runRefresh(options: RefreshOptions, deps: RefreshDeps): Promise<RefreshSummary> {
  const started = performance.now();
  const { logger, reporter } = deps;
  const secrets = options.secrets ?? [];
  const configs = configsFor(options.families);
  const plan = planRun(configs, options.now);
  const sources = new Sources(deps.db, plan, pLimit(options.concurrency), (query, ms, error) => {
    if (error) logger.debug({ query, ms: Math.round(ms) }, 'query failed');
    else logger.debug({ query, ms: Math.round(ms) }, 'query done');
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
  const [payloads, sectionValues] = await Promise.all([
    Promise.allSettled(
      configs.map(async (config) => {
        const entry = await buildPayloadEntry(config, sources);
        logger.debug({ config: configLabel(config), ms: Math.round(performance.now() - started) }, 'config built');
        return entry;
      }),
    ),
    // A section that computed is written even when a config including it failed elsewhere.
    Promise.allSettled(
      sections.map(async ({ section, period }) => ({
        key: sectionKey(section, period),
        value: pyJson(await dashboardSection(sources, section, period)),
      })),
    ),
  ]);

  const built: BuiltConfig[] = [];
  payloads.forEach((outcome, index) => {
    const config = configs[index]!;
    if (outcome.status === 'fulfilled') built.push({ config, entries: [outcome.value] });
    else fail(config, outcome.reason);
  });
  const builtByConfig = new Map(built.map((item) => [item.config, item]));
  const entries = new Map<string, CacheEntry>();
  for (const { entries: own } of built) for (const entry of own) entries.set(entry.key, entry);
  sectionValues.forEach((outcome, index) => {
    if (outcome.status !== 'fulfilled') return; // its owners failed with the same error
    entries.set(outcome.value.key, outcome.value);
    for (const owner of sections[index]!.owners) builtByConfig.get(owner)?.entries.push(outcome.value);
  });

  let written = new Set<string>();
  let succeeded = built;
  if (!options.dryRun && deps.cache) {
    const writeFailures = await writeEntries(deps.cache, [...entries.values()], options.ttlSeconds);
    written = new Set([...entries.keys()].filter((key) => !writeFailures.has(key)));
    succeeded = [];
    for (const item of built) {
      const failedKey = item.entries.find((entry) => writeFailures.has(entry.key));
      if (failedKey) fail(item.config, new Error(`write failed: ${writeFailures.get(failedKey.key)!.message}`));
      else succeeded.push(item);
    }
  }

  const summary: RefreshSummary = {
    command: options.command,
    now: options.now.toISOString(),
    dry_run: options.dryRun,
    total_refreshed: configs.length,
    successful: succeeded.length,
    failed: configs.length - succeeded.length,
    cache_keys: options.dryRun ? [...entries.keys()] : [...written],
    failures,
    duration_ms: Math.round(performance.now() - started),
  };
  if (options.dryRun) {
    summary.payloads = Object.fromEntries([...entries.values()].map((entry) => [entry.key, JSON.parse(entry.value)]));
  }
  logger.info(
    {
      command: options.command,
      successful: summary.successful,
      failed: summary.failed,
      keys: summary.cache_keys.length,
      duration_ms: summary.duration_ms,
      max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    },
    'refresh finished',
  );
  return summary;
}
