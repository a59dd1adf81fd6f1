/**
 * `stats-refresh schedule`: the long-running mode for Compose, Swarm, systemd, Kubernetes
 * or a plain VM. Refreshes every family at start, then whenever the data changes (change
 * mode: the leader among the replicas on one Redis) or each family on its own cron
 * schedule (cron mode), heals lost keys, serves /metrics and /healthz, and exits 0 after
 * SIGTERM/SIGINT once the runs in flight have finished (within --grace-period).
 */
import { once } from 'node:events';
import { SCHEDULE_DEFAULTS, type ScheduleConfig, type ScheduleFlagValues, loadConfig, loadScheduleConfig } from '../config.js';
import { startHttpServer } from '../io/http.js';
import { ScheduleMetrics } from '../io/metrics.js';
import { fingerprintText, probeChanges } from '../pass/change-probe.js';
import { EXIT, UnreachableError } from '../lib/errors.js';
import { FAMILIES } from '../requests/batches.js';
import { type RedisRuntime, type Runtime, withRuntime } from '../run/runtime.js';
import { waitForServices } from '../run/services.js';
import { resolveTargets } from '../run/targets.js';
import type { ProbeChanges } from '../schedule/change-loop.js';
import { Scheduler } from '../schedule/scheduler.js';
import { MemoryState, RELOAD_REASONS } from '../state/memory-state.js';
import { mismatchesOf } from '../state/state-diff.js';
import { batchFileOf } from './refresh.js';

/** Warns about each family whose keys would expire between two runs, even a slow one. */
function warnShortTtl(runtime: Runtime, settings: ScheduleConfig): void {
  const { ttlSeconds, statementTimeoutMs } = runtime.config;
  for (const family of FAMILIES) {
    const boundSeconds = (settings.intervalsMs[family] + statementTimeoutMs) / 1000;
    if (ttlSeconds <= boundSeconds) {
      runtime.logger.warn(
        { family, ttl_seconds: ttlSeconds, longest_gap_seconds: settings.intervalsMs[family] / 1000, bound_seconds: boundSeconds },
        'STATS_CACHE_TTL does not exceed the longest gap between runs plus --statement-timeout: keys may expire between runs (self-healing refills them)',
      );
    }
  }
}

/**
 * The change probe on the process's pool: one statement, bounded like any (--statement-timeout).
 * The rows in memory hear each fingerprint: the next read starts where it looked.
 */
function probeOf(runtime: Runtime, state: MemoryState): ProbeChanges {
  return async () => {
    // The fingerprint alone: each run finds how long its payloads stay exact in the rows it held.
    const fingerprint = await probeChanges(runtime.connections.pool);
    state.observe(fingerprint);
    return { key: fingerprintText(fingerprint) };
  };
}

/** The rows change mode keeps in memory, its reloads and reconciliations logged and counted. */
function memoryStateOf(runtime: Runtime, settings: ScheduleConfig, metrics: ScheduleMetrics): MemoryState {
  const { logger, connections } = runtime;
  return new MemoryState({
    db: connections.db,
    pool: connections.pool,
    clock: Date.now,
    reconcileIntervalMs: settings.reconcileIntervalMs,
    probe: () => probeChanges(connections.pool),
    onReload: (reason, table) => {
      metrics.countReload(reason);
      logger.info({ reason, ...(table ? { table } : {}), why: RELOAD_REASONS[reason] }, 'rows in memory read whole');
    },
    onReconcile: (diff) => {
      metrics.recordReconcile({ execution: diff.executions.rows, user: diff.users.rows });
      const fields = { mismatches: mismatchesOf(diff), executions: diff.executions, users: diff.users };
      if (fields.mismatches === 0) logger.info(fields, 'rows in memory reconciled: no difference');
      else logger.warn(fields, 'rows in memory differed from a fresh load: replaced (a change the indexed reads cannot see, or a defect)');
    },
  });
}

/** What schedule logs once started: the mode's settings. */
function startedFields(runtime: Runtime, settings: ScheduleConfig) {
  const common = { mode: settings.mode, check_interval_ms: settings.checkIntervalMs, ttl_seconds: runtime.config.ttlSeconds };
  if (settings.mode === 'cron') return { ...common, schedules: settings.schedules, timezone: 'UTC' };
  return {
    ...common,
    probe_interval_ms: settings.probeIntervalMs,
    max_staleness_ms: settings.maxStalenessMs,
    reconcile_interval_ms: settings.reconcileIntervalMs,
    // null: the default cron schedules' spending, known after the first run.
    db_budget_seconds_per_hour: settings.dbBudgetSecondsPerHour,
  };
}

async function serve(runtime: RedisRuntime, settings: ScheduleConfig, signal: AbortSignal): Promise<number> {
  const { logger } = runtime;
  warnShortTtl(runtime, settings);
  for (const name of settings.ignored) logger.warn({ setting: name }, `${name} applies only with --mode cron: ignored`);
  if (runtime.config.pushgatewayUrl) logger.info('STATS_REFRESH_PUSHGATEWAY_URL is ignored by schedule: scrape its /metrics instead');
  try {
    await waitForServices(runtime, signal);
  } catch (error) {
    if (signal.aborted && error instanceof UnreachableError) return EXIT.OK;
    throw error;
  }
  if (signal.aborted) return EXIT.OK;

  const metrics = new ScheduleMetrics(FAMILIES);
  const memory = settings.mode === 'change' ? memoryStateOf(runtime, settings, metrics) : null;
  const scheduler = new Scheduler({ runtime, metrics, settings, signal, ...(memory ? { probe: probeOf(runtime, memory), memory } : {}) });
  const server =
    settings.metricsPort === null
      ? null
      : await startHttpServer(
          settings.metricsHost,
          settings.metricsPort,
          {
            metrics: async () => ({ body: await metrics.text(), contentType: metrics.contentType }),
            health: () => {
              const report = scheduler.health();
              return { healthy: report.healthy, body: report };
            },
          },
          '--metrics-port',
        );
  scheduler.start();
  logger.info({ ...startedFields(runtime, settings), metrics: server ? { host: settings.metricsHost, port: server.port } : null }, 'schedule started');
  if (!signal.aborted) await once(signal, 'abort');
  logger.info({ reason: String(signal.reason) }, 'schedule stopping: no new run starts');
  await scheduler.stop();
  await server?.close();
  logger.info('schedule stopped');
  return EXIT.OK;
}

export function scheduleCommand(flags: ScheduleFlagValues, signal: AbortSignal): Promise<number> {
  // Everything is checked before a connection opens: a bad cron expression or batch file is exit 2 at once.
  const settings = loadScheduleConfig(flags, process.env);
  const config = loadConfig(flags, process.env, undefined, { ttlSeconds: SCHEDULE_DEFAULTS.ttlSeconds });
  resolveTargets(FAMILIES, batchFileOf(config));
  return withRuntime(config, { db: true, redis: true, longRunning: true, graceful: true }, signal, (runtime) => serve(runtime, settings, signal));
}
