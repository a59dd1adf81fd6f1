/**
 * schedule's change mode: every --probe-interval the change probe (one small statement)
 * fingerprints what the payloads show; when the fingerprint differs from the one taken
 * right before the last full run started, a run of every family starts after DEBOUNCE_MS.
 * A change seen during a run marks the data dirty: exactly one more run follows it. A full
 * run also starts --max-staleness after the last one started, whatever the probe says
 * (what it cannot see, and values that move with time alone), and the database budget
 * (db-budget.ts) holds runs the changes ask for, without ever dropping one.
 *
 * All decisions are made at the injected clock's time in `tick()`; the timer only calls
 * `tick()` again when the next decision is due.
 */
import type { ScheduleConfig } from '../config.js';
import type { Logger } from '../io/logger.js';
import type { RunReason, ScheduleMetrics } from '../io/metrics.js';
import { errorMessage } from '../lib/errors.js';
import { DbBudget } from './db-budget.js';

/**
 * One statement's fingerprint of everything the payloads show (equal keys, same data) and,
 * when known, the last instant (ms) until which payloads computed now from that data stay
 * exact (null: no bound).
 */
export type ProbeChanges = (signal: AbortSignal) => Promise<{ readonly key: string; readonly validUntil?: number | null }>;

/**
 * A change waits this long before its run: what one action writes in a few statements
 * (a run submitted, then its first status move) lands in one run, for a lag of a fraction
 * of the probe interval.
 */
export const DEBOUNCE_MS = 200;

/**
 * Without a change seen for this long, the probe runs every --quiet-probe-interval instead:
 * a database at rest (nights, weekends) pays a third of the probes, and the first change
 * seen brings the short interval back. Two minutes: a change a minute keeps it short.
 */
export const QUIET_AFTER_MS = 120_000;

/** setTimeout's longest delay (a longer one fires at once); a wake-up that early only decides nothing. */
const MAX_TIMER_MS = 2_147_483_647;

/** Probes failing this long make /healthz unhealthy: a PostgreSQL restart takes seconds; past this the cache no longer follows the data. */
export const PROBE_FAILURE_GRACE_MS = 30_000;

/** How a full run went: whether every family wrote every config, its statements' time, and whether it read the tables whole. */
export interface FullRun {
  readonly complete: boolean;
  readonly dbMs: number;
  readonly loadedWhole: boolean;
  /**
   * Until when its payloads stay exact (ms; null: no bound), when the run knows it from the rows
   * it held; absent: the bound the probe before it found.
   */
  readonly validUntil?: number | null;
}

export interface ChangeLoopDeps {
  readonly probe: ProbeChanges;
  readonly settings: Pick<ScheduleConfig, 'probeIntervalMs' | 'quietProbeIntervalMs' | 'maxStalenessMs' | 'dbBudgetSecondsPerHour' | 'cronRunsPerHour'>;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly metrics: ScheduleMetrics;
  readonly secrets: readonly string[];
  /** Aborted on SIGTERM/SIGINT. */
  readonly signal: AbortSignal;
  /** Whether this replica holds the leader lease now: only the leader probes and runs. */
  readonly leading: () => boolean;
  /** Runs every family once no run is in flight; resolves when the run is over. */
  readonly runAll: (reason: RunReason) => Promise<FullRun>;
}

/** What /healthz needs to know of the probes. */
export interface ProbeHealth {
  /** Why the probes fail, and for how long; null while they answer. */
  readonly failure: { readonly error: string; readonly forMs: number } | null;
}

export class ChangeLoop {
  readonly budget: DbBudget;
  /** The fingerprint taken right before the last full run started; null: none, or that run did not write everything. */
  private baseline: string | null = null;
  /** When a change that no started run covers was first seen; null: none. */
  private dirtyAt: number | null = null;
  /** When the budget first held the run the change asks for; null: not held. */
  private heldSince: number | null = null;
  private lastFullStartAt: number | null = null;
  /** Until when the last complete run's payloads stay exact as time passes (ms; null: no bound or not known). */
  private validUntil: number | null = null;
  /** A start run is owed: at start, and whenever this replica takes the lead. */
  private startOwed = false;
  private nextProbeAt = 0;
  /** When a change was last seen (or this replica took the lead): the probe slows down QUIET_AFTER_MS after it. */
  private lastChangeAt = 0;
  private quiet = false;
  /** Full runs in a row that did not write everything, and when a change may try again. */
  private failures = 0;
  private retryAt = 0;
  private probeError: string | null = null;
  private probeFailingSince: number | null = null;
  private ticking = false;
  /** The pre-run probe or the full run in flight, with its bookkeeping. */
  private current: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private armed = false;

  constructor(private readonly deps: ChangeLoopDeps) {
    this.budget = new DbBudget({ secondsPerHour: deps.settings.dbBudgetSecondsPerHour, cronRunsPerHour: deps.settings.cronRunsPerHour });
  }

  /** This replica took the lead: a start run first (the previous leader may have died in the middle of one). */
  lead(): void {
    this.startOwed = true;
    this.lastChangeAt = this.deps.clock();
    this.wake();
  }

  /** Starts the timer: from now on `tick()` runs whenever a decision is due. */
  start(): void {
    this.armed = true;
    this.lastChangeAt = this.deps.clock();
    this.wake();
  }

  /** Stops the timer; a run in flight goes on (see `settled`). */
  stop(): void {
    this.armed = false;
    clearTimeout(this.timer);
  }

  /** Whether a full run is starting or in flight: self-healing leaves the families to it. */
  running(): boolean {
    return this.current !== null;
  }

  /** Resolves once the full run in flight (if any) and its bookkeeping are over. */
  async settled(): Promise<void> {
    while (this.current) await this.current;
  }

  /** Charges database time spent outside full runs (self-healing runs). */
  spend(ms: number): void {
    this.budget.spend(ms, this.deps.clock());
    this.publishBudget();
  }

  health(now: number = this.deps.clock()): ProbeHealth {
    if (this.probeError === null || this.probeFailingSince === null) return { failure: null };
    return { failure: { error: this.probeError, forMs: now - this.probeFailingSince } };
  }

  /** One step of the loop: starts the full run that is due, or probes when a probe is due. */
  async tick(): Promise<void> {
    if (this.ticking || this.deps.signal.aborted) return;
    this.ticking = true;
    try {
      if (!this.deps.leading()) return;
      const reason = this.runDue(this.deps.clock());
      if (reason) this.current = this.startFullRun(reason);
      else if (this.probeDue(this.deps.clock())) await this.probeForChanges();
    } finally {
      this.ticking = false;
      this.wake();
    }
  }

  /** Which full run should start now, if any. */
  private runDue(now: number): RunReason | null {
    if (this.current) return null;
    if (this.startOwed) return 'start';
    if (this.dirtyAt !== null && now >= this.dirtyAt + DEBOUNCE_MS && now >= this.retryAt) {
      const waitMs = this.budget.waitMs(now);
      if (waitMs === 0) return this.heldSince === null ? 'change' : 'budget-delayed';
      if (this.heldSince === null) {
        this.heldSince = now;
        this.deps.logger.info({ wait_ms: waitMs, budget_left_seconds: this.budget.left(now) }, 'change run held by the database budget');
      }
    }
    if (this.lastFullStartAt !== null && now >= this.lastFullStartAt + this.deps.settings.maxStalenessMs) return 'time';
    // A row has left a window since the last run's instant: its payloads are no longer the API's.
    if (this.validUntil !== null && now > this.validUntil) return 'time';
    return null;
  }

  /** A probe is due once a probe interval after the last one, unless a change already waits for its run. */
  private probeDue(now: number): boolean {
    return this.dirtyAt === null && now >= this.nextProbeAt;
  }

  /** Probes and marks the data dirty when the fingerprint differs from the last full run's. */
  private async probeForChanges(): Promise<void> {
    const key = (await this.probe())?.key ?? null;
    if (key === null || key === this.baseline || this.dirtyAt !== null) return;
    this.dirtyAt = this.deps.clock();
    this.lastChangeAt = this.dirtyAt;
    this.deps.logger.debug({ during_run: this.current !== null }, 'change seen');
  }

  /** Takes the fingerprint, then runs every family; the next probe compares with that fingerprint. */
  private async startFullRun(reason: RunReason): Promise<void> {
    this.startOwed = false;
    const probed = await this.probe();
    const key = probed?.key ?? null;
    const now = this.deps.clock();
    if (this.deps.signal.aborted || !this.deps.leading()) {
      // Not run: whatever asked for it still stands when this replica leads again.
      this.startOwed = true;
      this.current = null;
      this.wake();
      return;
    }
    if (this.heldSince !== null) this.deps.logger.info({ held_ms: now - this.heldSince }, 'change run starts after waiting for the database budget');
    // A failed probe leaves no baseline: the next probe that answers starts a run.
    this.baseline = key;
    this.dirtyAt = null;
    this.heldSince = null;
    this.lastFullStartAt = now;
    this.validUntil = null;
    const run = await this.deps.runAll(reason).catch((error: unknown): FullRun => {
      this.deps.logger.error({ reason, err: error }, 'schedule run failed');
      return { complete: false, dbMs: 0, loadedWhole: false };
    });
    // The probe ran just before the run's instant: its bound holds for the run's payloads too.
    if (run.complete) this.validUntil = run.validUntil !== undefined ? run.validUntil : (probed?.validUntil ?? null);
    this.finished(run);
    this.current = null;
    this.wake();
  }

  private finished(run: FullRun): void {
    const now = this.deps.clock();
    this.budget.fullRun(run.dbMs, now, run.loadedWhole);
    this.publishBudget();
    if (run.complete) {
      this.failures = 0;
      this.retryAt = 0;
      return;
    }
    // The keys may not show the fingerprint taken before the run: the next probe asks again,
    // after a wait that doubles while runs keep failing (up to --max-staleness).
    this.baseline = null;
    this.failures += 1;
    const { probeIntervalMs, maxStalenessMs } = this.deps.settings;
    this.retryAt = now + Math.min(maxStalenessMs, probeIntervalMs * 2 ** (this.failures - 1));
  }

  /** One probe: what it read, or null when it failed (logged once per failing stretch, counted, shown in /healthz). */
  private async probe(): Promise<Awaited<ReturnType<ProbeChanges>> | null> {
    const { logger, metrics, clock } = this.deps;
    const startedAt = clock();
    this.nextProbeAt = startedAt + this.probeIntervalAt(startedAt);
    const started = performance.now();
    try {
      const probed = await this.deps.probe(this.deps.signal);
      const ms = performance.now() - started;
      metrics.recordProbe(ms / 1000);
      // Probes are not charged to the budget: it governs runs. Their cost is fixed and small
      // (docs/performance.md), and on small data a budget that counted them would be spent by
      // them alone, holding every change run.
      if (this.probeError !== null) logger.info('change probe answered again');
      this.probeError = null;
      this.probeFailingSince = null;
      return probed;
    } catch (error) {
      metrics.recordProbe(null);
      if (this.probeError === null) {
        logger.warn({ err: error }, 'change probe failed; retrying every probe interval');
        this.probeFailingSince = startedAt;
      }
      this.probeError = errorMessage(error, this.deps.secrets);
      return null;
    } finally {
      this.publishBudget();
    }
  }

  /** --probe-interval, or --quiet-probe-interval once no change was seen for QUIET_AFTER_MS; logs and shows each switch. */
  private probeIntervalAt(now: number): number {
    const { probeIntervalMs, quietProbeIntervalMs } = this.deps.settings;
    const quiet = now - this.lastChangeAt >= QUIET_AFTER_MS && quietProbeIntervalMs > probeIntervalMs;
    const intervalMs = quiet ? quietProbeIntervalMs : probeIntervalMs;
    if (quiet !== this.quiet) {
      this.quiet = quiet;
      const message = quiet ? 'no change for a while: probing less often' : 'change seen: probing at the probe interval again';
      this.deps.logger.info({ probe_interval_ms: intervalMs }, message);
    }
    this.deps.metrics.setProbeInterval(intervalMs / 1000);
    return intervalMs;
  }

  private publishBudget(): void {
    const left = this.budget.left(this.deps.clock());
    if (left !== null) this.deps.metrics.setBudgetLeft(left);
  }

  /**
   * When `tick()` should run next: the next probe, and unless a full run is in flight (its end
   * wakes the loop) a run owed, the debounce's end, a retry, the budget, --max-staleness.
   */
  private nextDecisionAt(now: number): number | null {
    if (this.current) return this.dirtyAt === null ? this.nextProbeAt : null;
    if (this.startOwed) return now;
    const times = [this.nextProbeAt];
    if (this.lastFullStartAt !== null) times.push(this.lastFullStartAt + this.deps.settings.maxStalenessMs);
    if (this.validUntil !== null) times.push(this.validUntil + 1);
    if (this.dirtyAt !== null) times.push(Math.max(this.dirtyAt + DEBOUNCE_MS, this.retryAt, now + this.budget.waitMs(now)));
    return Math.min(...times);
  }

  /** Sets the timer for the next decision (after each step, a run's end, or taking the lead). */
  wake(): void {
    if (!this.armed || this.deps.signal.aborted) return;
    clearTimeout(this.timer);
    const now = this.deps.clock();
    // Not leading (or not sure of it while a renewal is late): look again a probe interval later.
    const at = this.deps.leading() ? this.nextDecisionAt(now) : now + this.deps.settings.probeIntervalMs;
    if (at === null) return;
    this.timer = setTimeout(() => void this.tick(), Math.min(MAX_TIMER_MS, Math.max(0, at - now)));
  }
}
