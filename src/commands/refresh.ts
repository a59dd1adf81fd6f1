/**
 * `stats-refresh refresh [target...]`: resolves the targets (families, `all`, requests in
 * the API's syntax, and a batch file's lines), takes the lock of each family it refreshes,
 * adds the families' learned requests, runs the core, prints the summary, pushes the run's
 * metrics when a Pushgateway is configured, and returns the exit code. Requests alone take no
 * lock and push no metrics: they are not a family's run.
 */
import type { FlagValues } from '../config.js';
import { EXIT, UsageError } from '../errors.js';
import { learnRequests } from '../io/learned.js';
import { type HeldLock, tryLock, waitForLock } from '../io/lock.js';
import { redact, safeUrl } from '../lib/redact.js';
import { outcomesOf } from '../outcomes.js';
import { DEFAULT_RETRY } from '../lib/retry.js';
import { type RefreshSummary, runRefresh } from '../refresh.js';
import { readBatchFile } from '../requests/batch-file.js';
import { configsFor, FAMILIES, type Family, type RefreshConfig } from '../requests/batches.js';
import { payloadKey } from '../requests/config-keys.js';
import { type ParsedTarget, parseTarget, type Target } from '../requests/request.js';
import { type Runtime, withRuntime } from './runtime.js';

/** Exit codes after a shutdown signal, as shells report them (128 + signal number). */
export const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/** What a run refreshes: whole families (their batches, locked, with learned requests) and requests. */
export interface RefreshTargets {
  readonly families: readonly Family[];
  readonly requests: readonly RefreshConfig[];
  /** Parameters the requests hold that the API does not read, for a warning. */
  readonly ignored: ReadonlyArray<{ readonly target: string; readonly parameters: readonly string[] }>;
}

/**
 * Resolves command-line targets and a batch file's lines; throws UsageError (exit 2) on any
 * bad one. When the command line names families, the file adds only targets of those
 * families: each CronJob (or scheduled family) can mount the same file and refresh its own
 * part of it, not everyone's.
 */
export function resolveTargets(args: readonly string[], batchFile: { path: string; source: string } | null): RefreshTargets {
  const given = args.map((arg) => parseTarget(arg));
  const fromFile = batchFile ? readBatchFile(batchFile.path, batchFile.source).map(({ target }) => target) : [];
  const named = new Set(given.flatMap(familiesOf));
  const parsed = [...given, ...(given.length === 0 ? fromFile : fromFile.flatMap((target) => restrictTo(target, named)))];
  if (parsed.length === 0) {
    throw new UsageError(
      `nothing to refresh: give ${FAMILIES.join(', ')} or all, a request such as 'executions?period=last_week', or --batch-file`,
    );
  }
  const families = new Set(parsed.flatMap((target) => (target.kind === 'families' ? target.families : [])));
  return {
    families: FAMILIES.filter((family) => families.has(family)),
    requests: parsed.flatMap((target) => (target.kind === 'request' ? [target.config] : [])),
    ignored: parsed.flatMap((target) =>
      target.kind === 'request' && target.ignored?.length ? [{ target: target.text, parameters: target.ignored }] : [],
    ),
  };
}

function familiesOf(target: Target): readonly Family[] {
  return target.kind === 'families' ? target.families : [target.config.family];
}

/** The part of a target that belongs to the named families (none, some, or all of it). */
function restrictTo(target: ParsedTarget, named: ReadonlySet<Family>): ParsedTarget[] {
  if (target.kind === 'request') return named.has(target.config.family) ? [target] : [];
  const families = target.families.filter((family) => named.has(family));
  return families.length > 0 ? [{ kind: 'families', families }] : [];
}

async function takeLocks(runtime: Runtime, families: readonly Family[]) {
  const { config, logger, connections } = runtime;
  const held: HeldLock[] = [];
  const running: Family[] = [];
  const skipped: Family[] = [];
  for (const family of families) {
    const lock = config.waitLock
      ? await waitForLock(connections.redis!, family, config.lockTtlMs, config.waitTimeoutMs)
      : await tryLock(connections.redis!, family, config.lockTtlMs);
    if (lock) {
      held.push(lock);
      running.push(family);
    } else {
      skipped.push(family);
      logger.info(
        { family, waited: config.waitLock },
        config.waitLock ? 'family skipped: its lock was not freed in time' : 'family skipped: another run holds its lock',
      );
    }
  }
  return { held, running, skipped };
}

function emptySummary(command: string, now: Date, skipped: Family[]): RefreshSummary {
  return {
    command,
    now: now.toISOString(),
    dry_run: false,
    total_refreshed: 0,
    successful: 0,
    failed: 0,
    cache_keys: [],
    failures: [],
    duration_ms: 0,
    statements: 0,
    skipped,
  };
}

/** The learned requests of the families run; a failure to learn is a warning, never a failed run. */
async function learnedConfigs(runtime: Runtime, families: readonly Family[], otherConfigs: readonly RefreshConfig[], now: Date) {
  const { config, connections, logger } = runtime;
  if (!config.learn || config.dryRun || families.length === 0 || config.learnMax === 0) return [];
  try {
    const known = new Set(otherConfigs.map(payloadKey));
    const learned = await learnRequests(connections.redis!, families, known, now, { windowMs: config.learnWindowMs, max: config.learnMax }, logger);
    return learned.map((request) => request.config);
  } catch (error) {
    logger.warn({ err: redact((error as Error).message, runtime.secrets) }, 'learned requests not read; refreshing without them');
    return [];
  }
}

export interface TargetsRun {
  readonly code: number;
  readonly summary: RefreshSummary;
  /** The families whose batches ran (not skipped for a lock). */
  readonly families: readonly Family[];
  /** What the run computed: batches, requests, learned requests. */
  readonly configs: readonly RefreshConfig[];
  /** The learned requests among them. */
  readonly learned: readonly RefreshConfig[];
}

/**
 * Refreshes `targets` within an open runtime, computing as of `now`; returns the exit code
 * and the summary, printing nothing.
 */
export async function runTargets(
  runtime: Runtime,
  command: string,
  targets: RefreshTargets,
  signal: AbortSignal,
  now: Date = runtime.config.now,
): Promise<TargetsRun> {
  const { config, logger, connections } = runtime;
  for (const { target, parameters } of targets.ignored) {
    logger.warn({ target, parameters }, 'parameters ignored: the API does not read them either');
  }
  const { held, running, skipped } = config.dryRun
    ? { held: [], running: [...targets.families], skipped: [] }
    : await takeLocks(runtime, targets.families);
  let summary: RefreshSummary;
  let configs: RefreshConfig[] = [];
  let learned: RefreshConfig[] = [];
  try {
    const batch = [...configsFor(running), ...targets.requests];
    learned = await learnedConfigs(runtime, running, batch, now);
    configs = [...batch, ...learned];
    summary =
      configs.length === 0
        ? emptySummary(command, now, skipped)
        : await runRefresh(
            {
              command,
              configs,
              families: running,
              now,
              ttlSeconds: config.ttlSeconds,
              concurrency: config.concurrency,
              dryRun: config.dryRun,
              secrets: runtime.secrets,
              signal,
              gracePeriodMs: config.gracePeriodMs,
              retry: DEFAULT_RETRY,
            },
            {
              db: connections.db,
              pool: connections.pool,
              dbBytesReceived: connections.dbBytesReceived,
              cache: connections.redis,
              logger,
              reporter: runtime.reporter,
            },
          );
    if (learned.length > 0) summary.learned = learned.length;
  } finally {
    await Promise.all(
      held.map((lock) =>
        lock.release().catch((error: unknown) =>
          // Harmless but worth knowing: the lock lapses on its own after --lock-ttl.
          logger.warn({ lock: lock.key, err: redact((error as Error).message, runtime.secrets) }, 'lock not released'),
        ),
      ),
    );
  }
  if (skipped.length > 0) summary.skipped = skipped;
  const code = signal.aborted ? (SIGNAL_EXIT[String(signal.reason)] ?? EXIT.CONFIGS_FAILED) : summary.failed > 0 ? EXIT.CONFIGS_FAILED : EXIT.OK;
  return { code, summary, families: running, configs, learned };
}

/** Pushes the run's metrics, one group per family run; a Pushgateway that fails is a warning only. */
async function pushRun(runtime: Runtime, url: string, run: TargetsRun): Promise<void> {
  if (run.families.length === 0) return;
  // prom-client loads only when there is somewhere to push to.
  const { pushOutcomes } = await import('../io/metrics.js');
  const errors = await pushOutcomes(url, outcomesOf(run.summary, run.families, run.configs, new Date(), run.learned));
  const where = safeUrl(url);
  for (const [family, error] of errors) {
    runtime.logger.warn(
      { pushgateway: where, family, err: redact(error.message, runtime.secrets).split('\n')[0] },
      'metrics not pushed; the run itself is unaffected',
    );
  }
  if (errors.size === 0) runtime.logger.debug({ pushgateway: where, families: run.families }, 'metrics pushed');
}

/** Refreshes `targets` within an open runtime, prints the summary and pushes metrics; returns the exit code. */
export async function refreshWithin(runtime: Runtime, command: string, targets: RefreshTargets, signal: AbortSignal): Promise<number> {
  const run = await runTargets(runtime, command, targets, signal);
  process.stdout.write(`${JSON.stringify(run.summary)}\n`);
  const url = runtime.config.pushgatewayUrl;
  if (url && !runtime.config.dryRun) await pushRun(runtime, url, run);
  return run.code;
}

export function refreshCommand(command: string, args: readonly string[], flags: FlagValues, signal: AbortSignal): Promise<number> {
  return withRuntime(flags, { db: true, redis: flags.dryRun !== true }, async (runtime) => {
    const { batchFile, batchFileSource } = runtime.config;
    // Every target is checked before anything connects: a bad one is exit 2 with nothing attempted.
    const targets = resolveTargets(args, batchFile ? { path: batchFile, source: batchFileSource } : null);
    await runtime.checkReachable();
    return refreshWithin(runtime, command, targets, signal);
  });
}
