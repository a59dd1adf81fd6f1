/**
 * The long-running scheduler behind `stats-refresh schedule`. In change mode (the default)
 * the leader among the replicas on one Redis runs every family when the data changes
 * (change-loop.ts); in cron mode each family runs on its own cron schedule (UTC). Either
 * way a family never overlaps itself, and a self-healing check refreshes a family at once
 * when its keys go missing. Runs go through the same layer as `refresh` (family locks), so
 * CronJobs and other schedulers are guarded too.
 */
import { Cron } from 'croner';
import type { ScheduleConfig } from '../config.js';
import { CUT_PING_MS } from '../io/connections.js';
import { LeaderLease } from '../io/leader-lease.js';
import type { FamilyOutcome, RunReason, ScheduleMetrics } from '../io/metrics.js';
import { redisFailure } from '../io/redis-client.js';
import { readLastSuccesses } from '../io/metadata.js';
import { CRON_TIMEZONE } from '../lib/cron.js';
import { errorMessage } from '../lib/errors.js';
import { FAMILIES, type Family } from '../requests/batches.js';
import { coveredKeys } from '../requests/covered.js';
import { runTargets } from '../run/family-run.js';
import type { MemoryState } from '../state/memory-state.js';
import { failedOutcomes, learnedKeysOf, outcomesOf, type RefreshRun, writtenKeysOf } from '../run/results.js';
import { type RedisRuntime, STOP_SLACK_MS } from '../run/runtime.js';
import { type RefreshTargets, resolveTargets } from '../run/targets.js';
import { ChangeLoop, type FullRun, type ProbeChanges } from './change-loop.js';
import { type HealthReport, healthOf } from './health.js';
import { LastValues } from './last-values.js';
import { HealBudget, missingByFamily } from './self-heal.js';
import { type Watch, watchInvalidations } from './watch.js';

/** Checks triggered by Redis's messages come at most this often. */
const EVENT_CHECK_SPACING_MS = 100;
const MAX_HEAL_BASE_MS = 30_000;
const MAX_HEAL_QUIET_MS = 60_000;
/**
 * The leader lease lapses this long after its last renewal: a follower takes over within
 * it (plus a second) when the leader dies, while four renewals in a row may fail first.
 */
export const LEASE_TTL_MS = 5_000;
const LEASE_RENEW_MS = 1_000;

/** Runs the families' batches (and their part of the batch file) as of `now`. */
export type RunFamilies = (families: readonly Family[], command: string, signal: AbortSignal, now: Date) => Promise<RefreshRun>;

export interface SchedulerDeps {
  readonly runtime: RedisRuntime;
  readonly metrics: ScheduleMetrics;
  readonly settings: ScheduleConfig;
  /** Aborted on SIGTERM/SIGINT: runs in flight stop starting statements and finish within the grace period. */
  readonly signal: AbortSignal;
  /** The time its decisions are made at (default: the system clock). */
  readonly clock?: () => number;
  /** How a run is made (default: the family run, src/run/). */
  readonly runFamilies?: RunFamilies;
  /** change mode: the change probe (required there). */
  readonly probe?: ProbeChanges;
  /** change mode: the rows kept in memory that every run computes from (src/state/). */
  readonly memory?: MemoryState;
}

/**
 * The grace cut (src/run/runtime.ts) ends a statement stuck on a silent PostgreSQL at the end of
 * the wait for the runs: past it, this long for the run it freed to write what it has and
 * release its locks (Redis answered the cut's PING, or was dropped) before the connections close.
 */
const AFTER_CUT_MS = CUT_PING_MS + 1_000;

export class Scheduler {
  private readonly inFlight = new Map<Family, Promise<FullRun>>();
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
  /** change mode: the change loop and the leader lease; null in cron mode. */
  private readonly change: ChangeLoop | null = null;
  private readonly lease: LeaderLease | null = null;
  private leaseTimer: NodeJS.Timeout | undefined;
  private claiming = false;
  private leading = false;
  private leaseError: string | null = null;

  constructor(private readonly deps: SchedulerDeps) {
    const { checkIntervalMs, intervalsMs } = deps.settings;
    this.now = deps.clock ?? Date.now;
    const memory = deps.memory;
    this.runFamilies =
      deps.runFamilies ??
      ((families, command, signal, now) =>
        // Without rows held (at start, after a failed read) a run reads as `refresh` does, so its
        // keys land as soon as a one-shot run's would; the rows are loaded right after (run()).
        runTargets(deps.runtime, command, this.targetsOf(families), signal, now, memory?.holdsRows ? { memory } : {}));
    if (deps.settings.mode === 'change') {
      if (!deps.probe) throw new Error('schedule in change mode needs the change probe');
      this.lease = new LeaderLease(deps.runtime.connections.redis, LEASE_TTL_MS, this.now);
      this.change = new ChangeLoop({
        probe: deps.probe,
        settings: deps.settings,
        clock: this.now,
        logger: deps.runtime.logger,
        metrics: deps.metrics,
        secrets: deps.runtime.secrets,
        signal: deps.signal,
        leading: () => this.lease!.held(),
        runAll: (reason) => this.runAll(reason),
      });
    }
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

  /**
   * Refreshes every family once, then starts the schedules (cron mode) or the change loop and
   * the bid for the lead (change mode: the leader's first run is its start run), and the
   * self-healing check.
   */
  start(): void {
    // A batch file that does not read is a usage error now, not a failed run every few minutes.
    this.targetsOf(FAMILIES);
    this.startedAt = this.now();
    this.lastCheckAt = this.startedAt;
    if (this.change) this.startChangeMode();
    else this.startCronMode();
    // A flush, a delete, an eviction or a reconnect (Redis restarted): look at once, not at the next tick.
    const { runtime } = this.deps;
    this.watch = watchInvalidations(runtime.connections.redis, () => this.checkNow(), runtime.logger);
    this.scheduleCheck();
  }

  private startChangeMode(): void {
    this.change!.start();
    const renew = () => {
      void this.claimLead();
      this.leaseTimer = setTimeout(renew, LEASE_RENEW_MS);
    };
    renew();
  }

  private startCronMode(): void {
    this.trigger(FAMILIES, 'start');
    for (const family of FAMILIES) {
      const job = new Cron(
        this.deps.settings.schedules[family],
        { name: `stats-refresh-${family}`, timezone: CRON_TIMEZONE, mode: '5-or-6-parts', catch: true },
        () => void this.trigger([family], 'cron'),
      );
      this.jobs.push(job);
    }
  }

  /**
   * change mode: takes or renews the leader lease (one claim at a time; a claim Redis does
   * not answer keeps the lease only until it lapses). Taking the lead starts the change
   * loop with a start run; losing it stops probes and runs (a run in flight finishes,
   * guarded by its family locks). Returns whether this replica leads.
   */
  async claimLead(): Promise<boolean> {
    const { lease, change } = this;
    if (!lease || !change || this.stopping) return false;
    const { logger } = this.deps.runtime;
    if (!this.claiming) {
      this.claiming = true;
      try {
        await lease.claim();
        if (this.leaseError !== null) logger.info('leader lease answered again');
        this.leaseError = null;
      } catch (error) {
        const reason = errorMessage(redisFailure(error), this.deps.runtime.secrets);
        if (this.leaseError === null) logger.warn({ err: reason }, 'leader lease not claimed; retrying every second');
        this.leaseError = reason;
      } finally {
        this.claiming = false;
      }
    }
    const leads = lease.held() && !this.stopping;
    if (leads && !this.leading) {
      logger.info('leading: this replica probes and runs');
      change.lead();
    } else if (!leads && this.leading) {
      logger.warn('no longer leading: another replica leads, or Redis did not renew the lease in time');
    }
    this.leading = leads;
    return leads;
  }

  /** change mode: one step of the change loop (what its timer runs; the tests call it on their clock). */
  tick(): Promise<void> {
    return this.change?.tick() ?? Promise.resolve();
  }

  /** change mode: a run of every family, once the runs in flight (self-healing) are over. */
  private async runAll(reason: RunReason): Promise<FullRun> {
    await Promise.allSettled([...this.inFlight.values()]);
    return (await this.trigger(FAMILIES, reason)) ?? { complete: false, dbMs: 0, loadedWhole: false };
  }

  /**
   * Starts one run for the families given that are not already running; the others are
   * skipped and logged. Resolves when the run is over (null: nothing started).
   */
  trigger(families: readonly Family[], reason: RunReason): Promise<FullRun> | null {
    if (this.stopping) return null;
    const { logger } = this.deps.runtime;
    for (const family of families.filter((candidate) => this.inFlight.has(candidate))) {
      logger.info({ family, reason }, 'run skipped: the previous run of this family is still going');
    }
    const free = families.filter((family) => !this.inFlight.has(family));
    if (free.length === 0) return null;
    this.deps.metrics.countRun(reason);
    const run = this.run(free, reason).finally(() => {
      for (const family of free) this.inFlight.delete(family);
    });
    for (const family of free) this.inFlight.set(family, run);
    return run;
  }

  private async run(families: readonly Family[], reason: RunReason): Promise<FullRun> {
    const { runtime, metrics, signal } = this.deps;
    const started = performance.now();
    const command = `schedule ${reason}: ${families.join(',')}`;
    const now = new Date(this.now());
    let outcomes: FamilyOutcome[];
    let dbMs = 0;
    // A signal of its own per run: what a run hangs on its signal goes away with the run,
    // instead of piling up on the process's signal for as long as it runs.
    const own = new AbortController();
    const forward = () => own.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    const memory = this.deps.memory;
    const loadRowsAfter = memory !== undefined && !memory.holdsRows;
    try {
      const run = await this.runFamilies(families, command, own.signal, now);
      dbMs = run.dbMs;
      outcomes = outcomesOf(run, new Date(this.now()));
      if (loadRowsAfter) dbMs += await this.loadRows(memory, own.signal);
      this.rememberLearned(run.families, learnedKeysOf(run));
      // A family yielding to the API after drift has withdrawn its keys on purpose: do not heal them.
      for (const family of families) {
        if (run.drift.has(family) && runtime.config.onDrift === 'yield') this.yielding.add(family);
        else this.yielding.delete(family);
      }
      await this.lastValues
        .capture(runtime.connections.redis, writtenKeysOf(run))
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
      if (outcome.result !== 'ok') continue;
      this.lastSuccessAt[outcome.family] = outcome.finishedAt.getTime();
      metrics.setDataAsOf(outcome.family, now);
    }
    // Self-healing runs cost database time too; the change loop charges the runs it starts.
    if (reason === 'heal') this.change?.spend(dbMs);
    runtime.logger.info(
      {
        reason,
        families,
        results: Object.fromEntries(outcomes.map((outcome) => [outcome.family, outcome.result])),
        keys: outcomes.reduce((sum, outcome) => sum + outcome.keysWritten, 0),
        failed: outcomes.reduce((sum, outcome) => sum + outcome.requestsFailed, 0),
        duration_ms: Math.round(performance.now() - started),
      },
      'schedule run finished',
    );
    // Look again at once: keys lost while this run went on were skipped by the checks then
    // (the family was running), and after a heal this starts timing how long the keys stay.
    this.checkNow();
    const complete = outcomes.length === families.length && outcomes.every((outcome) => outcome.result === 'ok');
    if (memory) metrics.setStateRows({ execution: memory.rows.executions, user: memory.rows.users });
    // Without rows in memory every run reads the tables whole; with them, only a reload does.
    const loadedWhole = !memory || loadRowsAfter || memory.lastSync === 'reload' || memory.lastSync === 'reconcile';
    if (!memory || !complete) return { complete, dbMs, loadedWhole };
    // Its keys are written, but without rows no horizon bounds them: retried as a failed run is.
    if (!memory.holdsRows) return { complete: false, dbMs, loadedWhole };
    // The rows the run's payloads were computed from say how long they stay exact.
    const validUntil = memory.validUntil(now.getTime());
    return { complete, dbMs, loadedWhole, ...(validUntil === undefined ? {} : { validUntil: validUntil?.getTime() ?? null }) };
  }

  /**
   * Loads the rows into memory after a run that read without them, as of the fingerprint the
   * change loop took before that run (a change since is read by the next run); returns the
   * database milliseconds it took. A failure leaves no rows: the next run reads as this one did.
   */
  private async loadRows(memory: MemoryState, signal: AbortSignal): Promise<number> {
    // Shutting down: the run's keys are written, and no statement starts now.
    if (signal.aborted) return 0;
    const { logger } = this.deps.runtime;
    let dbMs = 0;
    // As a run's load counts them: a failed statement's time is mostly waiting, not work.
    const timed = async <T>(name: string, statement: () => Promise<T>): Promise<T> => {
      const begun = performance.now();
      const value = await statement();
      const ms = performance.now() - begun;
      dbMs += ms;
      logger.debug({ query: name, ms: Math.round(ms) }, 'query done');
      return value;
    };
    try {
      const begun = performance.now();
      await memory.sync(timed, signal);
      logger.info({ executions: memory.rows.executions, users: memory.rows.users, ms: Math.round(performance.now() - begun) }, 'rows in memory loaded after the run');
    } catch (error) {
      logger.warn({ err: error }, 'rows in memory not loaded: the next run reads the tables as this one did, and loads them again');
    }
    return dbMs;
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
      // A follower heals nothing: the leader does.
      if (this.lease && !this.lease.held()) return;
      const missing = await missingByFamily(runtime.connections.redis, coveredKeys(this.learnedKeys));
      for (const [family, at] of await readLastSuccesses(runtime.connections.redis, FAMILIES)) this.lastSuccessAnywhereAt[family] = at;
      if (this.checkError !== null) runtime.logger.info('self-healing check answered again');
      this.checkError = null;
      const now = this.now();
      const heal: Family[] = [];
      const lost: string[] = [];
      for (const family of FAMILIES) {
        const keys = this.yielding.has(family) ? [] : (missing.get(family) ?? []);
        metrics.setMissingKeys(family, keys.length);
        this.budget.observe(family, keys.length === 0, now);
        // A full run starting or in flight writes every family's keys.
        if (keys.length === 0 || this.inFlight.has(family) || this.change?.running()) continue;
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
        const restored = await this.lastValues.restore(runtime.connections.redis, lost).catch(() => 0);
        if (restored > 0) runtime.logger.info({ restored, missing: lost.length }, 'restored the last written values while the refresh runs');
        if (!this.change?.running()) this.trigger(heal, 'heal');
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
      leading: this.lease ? this.lease.held(now) : null,
      leaseError: this.leaseError,
      probeFailure: this.change?.health(now).failure ?? null,
    });
  }

  /** Resolves once no run is in flight (tests; stop() bounds its own wait). */
  async settled(): Promise<void> {
    await this.change?.settled();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Starts nothing more; waits for the runs in flight (they stop within the grace period once the signal aborted). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.checkTimer);
    clearTimeout(this.leaseTimer);
    this.change?.stop();
    for (const job of this.jobs) job.stop();
    this.watch?.close();
    await this.waitForRuns();
    // After the runs: a follower taking over sooner would only find their families locked.
    await this.lease?.release().catch((error: unknown) =>
      this.deps.runtime.logger.warn({ err: redisFailure(error) }, 'leader lease not released: it lapses on its own'),
    );
  }

  /** Waits for the runs in flight, at most the grace period and its slack. */
  private async waitForRuns(): Promise<void> {
    const runs = [...new Set(this.inFlight.values())];
    if (runs.length === 0) return;
    this.deps.runtime.logger.info({ families: [...this.inFlight.keys()] }, 'waiting for the runs in flight');
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.deps.runtime.config.gracePeriodMs + STOP_SLACK_MS + AFTER_CUT_MS);
    });
    await Promise.race([Promise.allSettled(runs), limit]);
    clearTimeout(timer);
    if (this.inFlight.size > 0) this.deps.runtime.logger.warn({ families: [...this.inFlight.keys()] }, 'runs still in flight at exit');
  }
}
