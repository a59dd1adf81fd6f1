/**
 * A family run, shared by the commands and the scheduler: the families' locks, their
 * learned requests, the refresh, and the locks released, whatever happened.
 */
import { driftSettingsOf } from '../config.js';
import { learnRequests } from '../io/learned.js';
import { type RedisClient, REDIS_COMMAND_TIMEOUT_MS, redisFailure } from '../io/redis-client.js';
import { readDeadlineMs, runDeadlineMs } from '../io/db.js';
import { type HeldLock, lockKey, tryLock, waitForLock } from '../io/lock.js';
import { errorMessage } from '../lib/errors.js';
import { Releasers } from '../lib/releasers.js';
import { DEFAULT_RETRY } from '../lib/retry.js';
import { requestsFor, FAMILIES, type Family } from '../requests/batches.js';
import { requestLabel, payloadKey } from '../requests/request-keys.js';
import type { MemorySource } from '../pass/load.js';
import { runRefresh } from './refresh-run.js';
import type { PlannedRequest, RefreshRun, RequestResult } from './results.js';
import type { Runtime } from './runtime.js';
import type { RefreshTargets } from './targets.js';
import { checkUnchanged, settleUnchanged, stillToCompute } from './unchanged.js';

/** A run's Redis work besides the writes' retries (learned requests, the drift check, the writes, the metadata), each command bounded. */
const REDIS_ALLOWANCE_MS = 6 * REDIS_COMMAND_TIMEOUT_MS;

/**
 * How long a run may keep its family locks: the catalog, the load up to its deadline, and
 * its Redis work. A run stuck past it stops renewing them: they lapse --lock-ttl later.
 */
function lockHoldMs(statementTimeoutMs: number): number {
  return readDeadlineMs(statementTimeoutMs) + runDeadlineMs(statementTimeoutMs) + REDIS_ALLOWANCE_MS;
}

/**
 * Takes each family's lock; a family whose lock another run holds is skipped, one whose
 * lock Redis would not give (refusing writes, gone) fails with that reason.
 */
async function takeLocks(runtime: Runtime, redis: RedisClient, families: readonly Family[], releasers: Releasers, signal: AbortSignal) {
  const { config, logger } = runtime;
  const running: Family[] = [];
  const skipped: Family[] = [];
  const failed = new Map<Family, string>();
  const options = {
    maxHoldMs: lockHoldMs(config.statementTimeoutMs),
    onNoExpiry: (key: string) =>
      logger.warn({ lock: key, lock_ttl_ms: config.lockTtlMs }, 'family lock had no expiry and would never lapse: given one of --lock-ttl'),
  };
  for (const family of families) {
    let lock: HeldLock | null;
    try {
      lock = config.waitLock
        ? await waitForLock(redis, family, config.lockTtlMs, config.waitTimeoutMs, signal, options)
        : await tryLock(redis, family, config.lockTtlMs, options);
    } catch (error) {
      const reason = errorMessage(redisFailure(error), runtime.secrets);
      failed.set(family, `family lock not taken: ${reason}`);
      logger.error({ family, lock: lockKey(family), err: reason }, 'family not run: its lock could not be taken');
      runtime.reporter.report(`stats-refresh: family ${family} not run: its lock could not be taken: ${reason}`, { family });
      continue;
    }
    if (lock) {
      releasers.push(lock.key, () => lock.release());
      running.push(family);
    } else {
      skipped.push(family);
      const why = !config.waitLock
        ? 'family skipped: another run holds its lock'
        : signal.aborted
          ? 'family skipped: shutting down while waiting for its lock'
          : 'family skipped: its lock was not freed in time';
      logger.info({ family, waited: config.waitLock }, why);
    }
  }
  return { running, skipped, failed };
}

/** The results of the families whose lock could not be taken: every request failed, nothing written. */
function lockFailures(failed: ReadonlyMap<Family, string>): RequestResult[] {
  return [...failed].flatMap(([family, message]) =>
    requestsFor([family]).map((request): RequestResult => ({
      request,
      origin: 'batch',
      family,
      label: requestLabel(request),
      key: payloadKey(request),
      written: [],
      error: { kind: 'lock', key: payloadKey(request), message },
      computeMs: 0,
    })),
  );
}

/** The learned requests of the families run; a failure to learn is a warning, never a failed run. */
async function learnedRequests(
  runtime: Runtime,
  redis: RedisClient | null,
  families: readonly Family[],
  others: readonly PlannedRequest[],
  now: Date,
): Promise<PlannedRequest[]> {
  const { config, logger } = runtime;
  if (!redis || !config.learn || families.length === 0 || config.learnMax === 0) return [];
  try {
    const known = new Set(others.map(({ request }) => payloadKey(request)));
    const learned = await learnRequests(redis, families, known, now, { windowMs: config.learnWindowMs, max: config.learnMax }, logger);
    return learned.map((learnedRequest): PlannedRequest => ({ request: learnedRequest.request, origin: 'learned' }));
  } catch (error) {
    logger.warn({ err: redisFailure(error) }, 'learned requests not read; refreshing without them');
    return [];
  }
}

/** The run of a command that had nothing to compute (every family skipped or failed): nothing sent. */
function emptyRun(command: string, now: Date, ttlSeconds: number, skipped: readonly Family[], signal: AbortSignal): RefreshRun {
  return {
    command,
    now,
    startedAt: new Date(),
    dryRun: false,
    ttlSeconds,
    durationMs: 0,
    statements: 0,
    dbMs: 0,
    families: [],
    skipped,
    interrupted: signal.aborted ? String(signal.reason) : null,
    results: [],
    payloads: null,
    sha1: new Map(),
    drift: new Map(),
  };
}

/** The Redis a run writes to, locks and learns from: none on a dry run (the commands open none then). */
function writerOf(runtime: Runtime): RedisClient | null {
  if (runtime.config.dryRun) return null;
  if (!runtime.connections.redis) throw new Error('a run that writes needs Redis, and the command opened no connection to it');
  return runtime.connections.redis;
}

/**
 * Refreshes `targets` within an open runtime, computing as of `now`; prints nothing.
 * `keepUnchanged` (one-shot runs): families with nothing changed since their last run only
 * have their keys' TTL renewed, unless --force (src/run/unchanged.ts).
 */
export async function runTargets(
  runtime: Runtime,
  command: string,
  targets: RefreshTargets,
  signal: AbortSignal,
  now: Date = runtime.config.now,
  { keepUnchanged = false, memory }: { keepUnchanged?: boolean; memory?: MemorySource } = {},
): Promise<RefreshRun> {
  const { config, logger, connections } = runtime;
  const redis = writerOf(runtime);
  for (const { target, parameters } of targets.ignored) {
    logger.warn({ target, parameters }, 'parameters ignored: the API does not read them either');
  }
  const releasers = new Releasers();
  try {
    const { running, skipped, failed } = redis
      ? await takeLocks(runtime, redis, targets.families, releasers, signal)
      : { running: [...targets.families], skipped: [], failed: new Map<Family, string>() };
    const batch: PlannedRequest[] = [
      ...requestsFor(running).map((request): PlannedRequest => ({ request, origin: 'batch' })),
      ...targets.requests.map((request): PlannedRequest => ({ request, origin: 'request' })),
    ];
    const requests = [...batch, ...(await learnedRequests(runtime, redis, running, batch, now))];
    const deps = redis ? { pool: connections.pool, redis, logger, secrets: runtime.secrets } : null;
    const check =
      keepUnchanged && deps && running.length > 0
        ? await checkUnchanged(deps, running, requests, now, { ttlSeconds: config.ttlSeconds, force: config.force, maxAgeMs: config.apiCacheTtlSeconds * 1000 })
        : null;
    const computing = stillToCompute(requests, check);
    const toCompute = running.filter((family) => !check?.unchanged.has(family));
    const computed = computing.length === 0 ? emptyRun(command, now, config.ttlSeconds, skipped, signal) : await refresh(computing, toCompute, skipped);
    const run = check && deps ? await settleUnchanged(deps, check, requests, computed) : computed;
    if (failed.size === 0) return run;
    const families = new Set([...run.families, ...failed.keys()]);
    return { ...run, families: FAMILIES.filter((family) => families.has(family)), results: [...run.results, ...lockFailures(failed)] };
  } finally {
    // Harmless when one fails: a lock lapses on its own after --lock-ttl.
    await releasers.releaseAll((lock, error) => logger.warn({ lock, err: redisFailure(error) }, 'lock not released'));
  }

  function refresh(requests: readonly PlannedRequest[], running: readonly Family[], skipped: readonly Family[]): Promise<RefreshRun> {
    return runRefresh(
      {
        command,
        requests,
        families: running,
        skipped,
        now,
        ttlSeconds: config.ttlSeconds,
        concurrency: config.concurrency,
        dryRun: config.dryRun,
        drift: driftSettingsOf(config),
        signal,
        gracePeriodMs: config.gracePeriodMs,
        loadDeadlineMs: runDeadlineMs(config.statementTimeoutMs),
        retry: DEFAULT_RETRY,
      },
      {
        db: connections.db,
        pool: connections.pool,
        dbBytesReceived: connections.dbBytesReceived,
        cache: redis,
        logger,
        reporter: runtime.reporter,
        secrets: runtime.secrets,
        ...(memory ? { memory } : {}),
      },
    );
  }
}
