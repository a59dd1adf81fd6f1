/**
 * The long-running scheduler behind `stats-refresh schedule`: each family on its own cron
 * schedule (UTC), never overlapping itself, plus a self-healing check that refreshes a
 * family at once when its keys go missing. Runs go through the same command layer as
 * `refresh` (family locks, summary), so CronJobs and other schedulers are guarded too.
 */
import { Cron } from 'croner';
import type { ScheduleConfig } from '../config.js';
import type { FamilyOutcome, RefreshMetrics } from '../io/metrics.js';
import { redisFailure } from '../io/cache.js';
import { readLastSuccesses } from '../io/metadata.js';
import { CRON_TIMEZONE } from '../lib/cron.js';
import { errorMessage } from '../lib/errors.js';
import { FAMILIES, type Family } from '../requests/batches.js';
import { coveredKeys } from '../requests/covered.js';
import { runTargets } from '../run/family-run.js';
import { failedOutcomes, learnedKeysOf, outcomesOf, type RefreshRun, writtenKeysOf } from '../run/results.js';
import { type Runtime, STOP_SLACK_MS } from '../run/runtime.js';
import { type RefreshTargets, resolveTargets } from '../run/targets.js';
import { type HealthReport, healthOf } from './health.js';
import { LastValues } from './last-values.js';
import { HealBudget, missingByFamily } from './self-heal.js';
import { type Watch, watchInvalidations } from './watch.js';

/** Why a run started. */
export type RunReason = 'start' | 'cron' | 'self-heal';

/** Checks triggered by Redis's messages come at most this often. */
const EVENT_CHECK_SPACING_MS = 100;
const MAX_HEAL_BASE_MS = 30_000;
const MAX_HEAL_QUIET_MS = 60_000;

/** Runs the families' batches (and their part of the batch file) as of `now`. */
export type RunFamilies = (families: readonly Family[], command: string, signal: AbortSignal, now: Date) => Promise<RefreshRun>;

export interface SchedulerDeps {
  readonly runtime: Runtime;
  readonly metrics: RefreshMetrics;
  readonly settings: ScheduleConfig;
  /** Aborted on SIGTERM/SIGINT: runs in flight stop starting statements and finish within the grace period. */
  readonly signal: AbortSignal;
  /** The time its decisions are made at (default: the system clock). */
  readonly clock?: () => number;
  /** How a run is made (default: the family run, src/run/). */
  readonly runFamilies?: RunFamilies;
}

export class Scheduler {
  private readonly inFlight = new Map<Family, Promise<void>>();
  private readonly jobs: Cron[] = [];
  private readonly budget: HealBudget;
  private readonly lastValues = new LastValues();
  private readonly lastSuccessAt: Record<Family, number | null> = { dashboard: null, executions: null, users: null };
  /** Each family's last successful run by any process, from its last-run record in Redis (read by each check). */
  private readonly lastSuccessAnywhereAt: Record<Family, number | null> = { dashboard: null, executions: null, users: null };
  private readonly now: () => number;
  private readonly runFamilies: RunFamilies;
  private startedAt: number;
  private lastCheckAt: number;
  private checkTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private recheck = false;
  /** Why the last check failed, while the checks fail. */
  private checkError: string | null = null;
  private lastCheckStartAt = 0;
  private watch: Watch | null = null;
  private stopping = false;
  private readonly deferredLogged = new Set<Family>();
  /** Families whose last run yielded to the API (drift): their keys are the API's to write. */
  private readonly yielding = new Set<Family>();
  /** Keys of the learned requests the families' last runs refreshed: watched like the batches'. */
  private readonly learnedKeys = new Map<string, Family>();

  constructor(private readonly deps: SchedulerDeps) {
    const { checkIntervalMs, intervalsMs } = deps.settings;
    this.now = deps.clock ?? Date.now;
    this.runFamilies =
      deps.runFamilies ?? ((families, command, signal, now) => runTargets(deps.runtime, command, this.targetsOf(families), signal, now));
    this.startedAt = this.now();
    this.lastCheckAt = this.startedAt;
    // Scaled by the check interval (5 s: waits of 10 s, 20, 40 … up to the family's interval;
    // quiet after 30 s), within bounds that still make sense for a check every hour.
    this.budget = new HealBudget({
      baseMs: Math.min(2 * checkIntervalMs, MAX_HEAL_BASE_MS),
      quietMs: Math.min(6 * checkIntervalMs, MAX_HEAL_QUIET_MS),
      capMs: intervalsMs,
    });
  }

  /** Replaces the learned keys of the families that ran with those their run refreshed. */
  private rememberLearned(ran: readonly Family[], learned: ReadonlyMap<string, Family>): void {
    for (const [key, family] of this.learnedKeys) if (ran.includes(family)) this.learnedKeys.delete(key);
    for (const [key, family] of learned) this.learnedKeys.set(key, family);
  }

  /** The families' batches, with their part of the batch file (read again each run: a mounted file may change). */
  private targetsOf(families: readonly Family[]): RefreshTargets {
    const { batchFile, batchFileSource } = this.deps.runtime.config;
    return resolveTargets(families, batchFile ? { path: batchFile, source: batchFileSource } : null);
  }

  /** Refreshes every family once, then starts the schedules and the self-healing check. */
  start(): void {
    // A batch file that does not read is a usage error now, not a failed run every few minutes.
    this.targetsOf(FAMILIES);
    this.startedAt = this.now();
    this.lastCheckAt = this.startedAt;
    this.trigger(FAMILIES, 'start');
    for (const family of FAMILIES) {
      const job = new Cron(
        this.deps.settings.schedules[family],
        { name: `stats-refresh-${family}`, timezone: CRON_TIMEZONE, mode: '5-or-6-parts', catch: true },
        () => this.trigger([family], 'cron'),
      );
      this.jobs.push(job);
    }
    // A flush, a delete, an eviction or a reconnect (Redis restarted): look at once, not at the next tick.
    const { runtime } = this.deps;
    this.watch = watchInvalidations(runtime.connections.redis!, () => this.checkNow(), runtime.logger);
    this.scheduleCheck();
  }

  /** Starts one run for the families given that are not already running; the others are skipped and logged. */
  trigger(families: readonly Family[], reason: RunReason): void {
    if (this.stopping) return;
    const { logger } = this.deps.runtime;
    for (const family of families.filter((candidate) => this.inFlight.has(candidate))) {
      logger.info({ family, reason }, 'run skipped: the previous run of this family is still going');
    }
    const free = families.filter((family) => !this.inFlight.has(family));
    if (free.length === 0) return;
    const run = this.run(free, reason).finally(() => {
      for (const family of free) this.inFlight.delete(family);
    });
    for (const family of free) this.inFlight.set(family, run);
  }

  private async run(families: readonly Family[], reason: RunReason): Promise<void> {
    const { runtime, metrics, signal } = this.deps;
    const started = performance.now();
    const command = `schedule ${reason}: ${families.join(',')}`;
    let outcomes: FamilyOutcome[];
    // A signal of its own per run: what a run hangs on its signal goes away with the run,
    // instead of piling up on the process's signal for as long as it runs.
    const own = new AbortController();
    const forward = () => own.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    try {
      const run = await this.runFamilies(families, command, own.signal, new Date(this.now()));
      outcomes = outcomesOf(run, new Date(this.now()));
      this.rememberLearned(run.families, learnedKeysOf(run));
      // A family yielding to the API after drift has withdrawn its keys on purpose: do not heal them.
      for (const family of families) {
        if (run.drift.has(family) && runtime.config.onDrift === 'yield') this.yielding.add(family);
        else this.yielding.delete(family);
      }
      await this.lastValues
        .capture(runtime.connections.redis!, writtenKeysOf(run))
        .catch((error: unknown) => runtime.logger.debug({ err: error }, 'written values not read back'));
    } catch (error) {
      // Redis gone while taking the locks, for instance: the run made nothing.
      runtime.logger.error({ reason, families, err: error }, 'schedule run failed');
      outcomes = failedOutcomes(families, new Date(this.now()), (performance.now() - started) / 1000);
    } finally {
      signal.removeEventListener('abort', forward);
    }
    for (const outcome of outcomes) {
      metrics.recordRun(outcome);
      if (outcome.result === 'ok') this.lastSuccessAt[outcome.family] = outcome.finishedAt.getTime();
    }
    runtime.logger.info(
      {
        reason,
        families,
        results: Object.fromEntries(outcomes.map((outcome) => [outcome.family, outcome.result])),
        keys: outcomes.reduce((sum, outcome) => sum + outcome.keysWritten, 0),
        failed: outcomes.reduce((sum, outcome) => sum + outcome.configsFailed, 0),
        duration_ms: Math.round(performance.now() - started),
      },
      'schedule run finished',
    );
    // Look again at once: keys lost while this run went on were skipped by the checks then
    // (the family was running), and after a heal this starts timing how long the keys stay.
    this.checkNow();
  }

  private scheduleCheck(): void {
    if (this.stopping) return;
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => void this.check(), this.deps.settings.checkIntervalMs);
  }

  /** A check as soon as possible: after the one running, and no sooner than EVENT_CHECK_SPACING_MS after the last. */
  private checkNow(): void {
    if (this.stopping) return;
    if (this.checking) {
      this.recheck = true;
      return;
    }
    clearTimeout(this.checkTimer);
    const wait = Math.max(0, this.lastCheckStartAt + EVENT_CHECK_SPACING_MS - this.now());
    this.checkTimer = setTimeout(() => void this.check(), wait);
  }

  /** One self-healing check: one Redis round trip, then a run for the families whose keys are missing (the loop's step). */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    this.lastCheckStartAt = this.now();
    const { runtime, metrics } = this.deps;
    try {
      const missing = await missingByFamily(runtime.connections.redis!, coveredKeys(this.learnedKeys));
      for (const [family, at] of await readLastSuccesses(runtime.connections.redis!, FAMILIES)) this.lastSuccessAnywhereAt[family] = at;
      if (this.checkError !== null) runtime.logger.info('self-healing check answered again');
      this.checkError = null;
      const now = this.now();
      const heal: Family[] = [];
      const lost: string[] = [];
      for (const family of FAMILIES) {
        const keys = this.yielding.has(family) ? [] : (missing.get(family) ?? []);
        metrics.setMissingKeys(family, keys.length);
        this.budget.observe(family, keys.length === 0, now);
        if (keys.length === 0 || this.inFlight.has(family)) continue;
        const waitMs = this.budget.waitMs(family, now);
        if (waitMs > 0) {
          if (!this.deferredLogged.has(family)) {
            runtime.logger.warn({ family, missing: keys.length, retry_in_ms: waitMs }, 'keys missing again soon after a heal: refresh deferred');
            this.deferredLogged.add(family);
          }
          continue;
        }
        heal.push(family);
        lost.push(...keys);
        this.budget.healed(family, now);
        this.deferredLogged.delete(family);
        metrics.countSelfHeal(family);
        runtime.logger.warn({ family, missing: keys.length, example: keys[0] }, 'covered keys missing: refreshing the family now');
      }
      if (heal.length > 0) {
        // The last values back first (one round trip), then fresh ones from the refresh.
        const restored = await this.lastValues.restore(runtime.connections.redis!, lost).catch(() => 0);
        if (restored > 0) runtime.logger.info({ restored, missing: lost.length }, 'restored the last written values while the refresh runs');
        this.trigger(heal, 'self-heal');
      }
    } catch (error) {
      const reason = redisFailure(error);
      if (this.checkError === null) {
        runtime.logger.warn({ err: reason }, 'self-healing check failed; retrying every check interval');
      }
      this.checkError = errorMessage(reason, runtime.secrets);
    } finally {
      this.lastCheckAt = this.now();
      this.checking = false;
      if (this.recheck) {
        this.recheck = false;
        this.checkNow();
      } else {
        this.scheduleCheck();
      }
    }
  }

  /** The /healthz verdict now. */
  health(now: number = this.now()): HealthReport {
    return healthOf({
      now,
      startedAt: this.startedAt,
      stopping: this.stopping,
      lastCheckAt: this.lastCheckAt,
      checkIntervalMs: this.deps.settings.checkIntervalMs,
      intervalsMs: this.deps.settings.intervalsMs,
      lastSuccessAt: this.lastSuccessAt,
      lastSuccessAnywhereAt: this.lastSuccessAnywhereAt,
      checkError: this.checkError,
    });
  }

  /** Starts nothing more; waits for the runs in flight (they stop within the grace period once the signal aborted). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.checkTimer);
    for (const job of this.jobs) job.stop();
    this.watch?.close();
    const runs = [...new Set(this.inFlight.values())];
    if (runs.length === 0) return;
    this.deps.runtime.logger.info({ families: [...this.inFlight.keys()] }, 'waiting for the runs in flight');
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.deps.runtime.config.gracePeriodMs + STOP_SLACK_MS);
    });
    await Promise.race([Promise.allSettled(runs), limit]);
    clearTimeout(timer);
    if (this.inFlight.size > 0) this.deps.runtime.logger.warn({ families: [...this.inFlight.keys()] }, 'runs still in flight at exit');
  }
}
