/**
 * A family run, shared by the commands and the scheduler: the families' locks, their
 * learned requests, the refresh, and the locks released, whatever happened.
 */
import { learnRequests } from '../io/learned.js';
import { tryLock, waitForLock } from '../io/lock.js';
import { Releasers } from '../lib/releasers.js';
import { DEFAULT_RETRY } from '../lib/retry.js';
import { configsFor, type Family } from '../requests/batches.js';
import { payloadKey } from '../requests/config-keys.js';
import { runRefresh } from './refresh.js';
import type { PlannedConfig, RefreshRun } from './results.js';
import type { Runtime } from './runtime.js';
import type { RefreshTargets } from './targets.js';

/** Takes each family's lock; a family whose lock another run holds is skipped. */
async function takeLocks(runtime: Runtime, families: readonly Family[], releasers: Releasers, signal: AbortSignal) {
  const { config, logger, connections } = runtime;
  const running: Family[] = [];
  const skipped: Family[] = [];
  for (const family of families) {
    const lock = config.waitLock
      ? await waitForLock(connections.redis!, family, config.lockTtlMs, config.waitTimeoutMs, signal)
      : await tryLock(connections.redis!, family, config.lockTtlMs);
    if (lock) {
      releasers.push(lock.key, () => lock.release());
      running.push(family);
    } else {
      skipped.push(family);
      logger.info(
        { family, waited: config.waitLock },
        config.waitLock ? 'family skipped: its lock was not freed in time' : 'family skipped: another run holds its lock',
      );
    }
  }
  return { running, skipped };
}

/** The learned requests of the families run; a failure to learn is a warning, never a failed run. */
async function learnedConfigs(runtime: Runtime, families: readonly Family[], others: readonly PlannedConfig[], now: Date) {
  const { config, connections, logger } = runtime;
  if (!config.learn || config.dryRun || families.length === 0 || config.learnMax === 0) return [];
  try {
    const known = new Set(others.map(({ config: other }) => payloadKey(other)));
    const learned = await learnRequests(connections.redis!, families, known, now, { windowMs: config.learnWindowMs, max: config.learnMax }, logger);
    return learned.map((request): PlannedConfig => ({ config: request.config, origin: 'learned' }));
  } catch (error) {
    logger.warn({ err: error }, 'learned requests not read; refreshing without them');
    return [];
  }
}

/** The run of a command whose every family was skipped: nothing computed, nothing sent. */
function skippedRun(command: string, now: Date, ttlSeconds: number, skipped: readonly Family[]): RefreshRun {
  return {
    command,
    now,
    startedAt: new Date(),
    dryRun: false,
    ttlSeconds,
    durationMs: 0,
    statements: 0,
    families: [],
    skipped,
    interrupted: null,
    results: [],
    payloads: null,
  };
}

/** Refreshes `targets` within an open runtime, computing as of `now`; prints nothing. */
export async function runTargets(
  runtime: Runtime,
  command: string,
  targets: RefreshTargets,
  signal: AbortSignal,
  now: Date = runtime.config.now,
): Promise<RefreshRun> {
  const { config, logger, connections } = runtime;
  for (const { target, parameters } of targets.ignored) {
    logger.warn({ target, parameters }, 'parameters ignored: the API does not read them either');
  }
  const releasers = new Releasers();
  try {
    const { running, skipped } = config.dryRun
      ? { running: [...targets.families], skipped: [] }
      : await takeLocks(runtime, targets.families, releasers, signal);
    const batch: PlannedConfig[] = [
      ...configsFor(running).map((planned): PlannedConfig => ({ config: planned, origin: 'batch' })),
      ...targets.requests.map((request): PlannedConfig => ({ config: request, origin: 'request' })),
    ];
    const configs = [...batch, ...(await learnedConfigs(runtime, running, batch, now))];
    if (configs.length === 0) return skippedRun(command, now, config.ttlSeconds, skipped);
    return await runRefresh(
      {
        command,
        configs,
        families: running,
        skipped,
        now,
        ttlSeconds: config.ttlSeconds,
        concurrency: config.concurrency,
        dryRun: config.dryRun,
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
        secrets: runtime.secrets,
      },
    );
  } finally {
    // Harmless when one fails: a lock lapses on its own after --lock-ttl.
    await releasers.releaseAll((lock, error) => logger.warn({ lock, err: error }, 'lock not released'));
  }
}
