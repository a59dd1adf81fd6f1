/**
 * `stats-refresh refresh <family>`: takes each family's lock, runs the core for the
 * families it got, prints the summary, pushes the run's metrics when a Pushgateway is
 * configured, and returns the exit code.
 */
import { type Family, type RefreshConfig, configsFor } from '../requests/batches.js';
import type { FlagValues } from '../config.js';
import { EXIT } from '../errors.js';
import { type HeldLock, tryLock, waitForLock } from '../io/lock.js';
import { type RefreshSummary, runRefresh } from '../refresh.js';
import { pushOutcomes } from '../io/metrics.js';
import { outcomesOf } from '../outcomes.js';
import { redact, safeUrl } from '../lib/redact.js';
import { DEFAULT_RETRY } from '../lib/retry.js';
import { type Runtime, withRuntime } from './runtime.js';

/** Exit codes after a shutdown signal, as shells report them (128 + signal number). */
export const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

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

export interface FamiliesRun {
  readonly code: number;
  readonly summary: RefreshSummary;
  /** What the run computed (none when every family was skipped). */
  readonly configs: readonly RefreshConfig[];
}

/**
 * Refreshes `families` within an open runtime, computing as of `now`; returns the exit
 * code and the summary, printing nothing.
 */
export async function runFamilies(
  runtime: Runtime,
  command: string,
  families: readonly Family[],
  signal: AbortSignal,
  now: Date = runtime.config.now,
): Promise<FamiliesRun> {
  const { config, logger, connections } = runtime;
  const { held, running, skipped } = config.dryRun
    ? { held: [], running: [...families], skipped: [] }
    : await takeLocks(runtime, families);
  let summary: RefreshSummary;
  try {
    summary =
      running.length === 0
        ? emptySummary(command, now, skipped)
        : await runRefresh(
            {
              command,
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
            { db: connections.db, cache: connections.redis, logger, reporter: runtime.reporter },
          );
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
  const configs = configsFor(running);
  if (signal.aborted) return { code: SIGNAL_EXIT[String(signal.reason)] ?? EXIT.CONFIGS_FAILED, summary, configs };
  return { code: summary.failed > 0 ? EXIT.CONFIGS_FAILED : EXIT.OK, summary, configs };
}

/** Pushes the run's metrics, one group per family; a Pushgateway that fails is a warning only. */
async function pushRun(runtime: Runtime, url: string, families: readonly Family[], run: FamiliesRun): Promise<void> {
  const errors = await pushOutcomes(url, outcomesOf(run.summary, families, run.configs, new Date()));
  const where = safeUrl(url);
  for (const [family, error] of errors) {
    runtime.logger.warn(
      { pushgateway: where, family, err: redact(error.message, runtime.secrets).split('\n')[0] },
      'metrics not pushed; the run itself is unaffected',
    );
  }
  if (errors.size === 0) runtime.logger.debug({ pushgateway: where, families }, 'metrics pushed');
}

/** Refreshes `families` within an open runtime, prints the summary and pushes metrics; returns the exit code. */
export async function refreshWithin(
  runtime: Runtime,
  command: string,
  families: readonly Family[],
  signal: AbortSignal,
): Promise<number> {
  const run = await runFamilies(runtime, command, families, signal);
  process.stdout.write(`${JSON.stringify(run.summary)}\n`);
  const url = runtime.config.pushgatewayUrl;
  if (url && !runtime.config.dryRun) await pushRun(runtime, url, families, run);
  return run.code;
}

export function refreshCommand(
  command: string,
  families: readonly Family[],
  flags: FlagValues,
  signal: AbortSignal,
): Promise<number> {
  return withRuntime(flags, { db: true, redis: flags.dryRun !== true }, async (runtime) => {
    await runtime.checkReachable();
    return refreshWithin(runtime, command, families, signal);
  });
}
