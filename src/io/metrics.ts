/**
 * Prometheus metrics, the same set for `schedule` (served on /metrics) and for one-shot
 * runs (pushed to a Pushgateway). Labels are families and results only: no URL, key or
 * payload ever becomes a label or a value.
 */
import { Counter, Gauge, Histogram, Pushgateway, Registry, collectDefaultMetrics } from 'prom-client';
import type { Family } from '../requests/batches.js';

/**
 * ok: every request written; failed: some request failed or the run was cut short; skipped:
 * another run held the lock; unchanged: nothing changed since the family's keys were
 * computed, their TTL was renewed (no table read).
 */
export type OutcomeResult = 'ok' | 'failed' | 'skipped' | 'unchanged';
export const RUN_RESULTS: readonly OutcomeResult[] = ['ok', 'failed', 'skipped', 'unchanged'];

/** Why `schedule` started a run: at start (or on taking the lead), a data change (one the database budget held: budget-delayed), --max-staleness, self-healing, a cron tick. */
export type RunReason = 'start' | 'change' | 'budget-delayed' | 'time' | 'heal' | 'cron';
export const RUN_REASONS: readonly RunReason[] = ['start', 'change', 'budget-delayed', 'time', 'heal', 'cron'];

/** The tables schedule keeps in memory (change mode). */
export type StateTable = 'execution' | 'user';
const STATE_TABLES: readonly StateTable[] = ['execution', 'user'];

/** A family's run as the metrics see it. */
export interface FamilyOutcome {
  readonly family: Family;
  readonly result: OutcomeResult;
  readonly finishedAt: Date;
  /** The whole run's, when it covered several families. */
  readonly durationSeconds: number;
  /** The whole run's, when it covered several families. */
  readonly statements: number;
  readonly requestsOk: number;
  readonly requestsFailed: number;
  readonly keysWritten: number;
  /** Learned requests the run refreshed with the family. */
  readonly learnedRequests: number;
  /** Whether drift is recorded for the family's endpoint (the API's answers differ from ours); null: not known. */
  readonly drift: boolean | null;
}

/** The Pushgateway job; with `family` it is the grouping key, so the three CronJobs never overwrite each other. */
export const PUSH_JOB = 'stats-refresh';
const PUSH_TIMEOUT_MS = 5_000;

export class RefreshMetrics {
  readonly registry = new Registry();
  private readonly lastSuccess = this.gauge('stats_refresh_last_success_timestamp_seconds', 'When the last run of the family that wrote every config finished (Unix seconds)');
  private readonly duration = this.gauge('stats_refresh_last_run_duration_seconds', 'Duration of the last run of the family (of the whole run when it covered several families)');
  private readonly requests = new Gauge({
    name: 'stats_refresh_configs',
    help: 'Configs of the last run of the family, by result (ok, failed)',
    labelNames: ['family', 'result'] as const,
    registers: [this.registry],
  });
  private readonly keysWritten = this.gauge('stats_refresh_keys_written', 'Keys the last run of the family wrote');
  private readonly statements = this.gauge('stats_refresh_db_statements', 'SQL statements of the last run of the family, retries included (of the whole run when it covered several families)');
  private readonly runs = new Counter({
    name: 'stats_refresh_runs_total',
    help: 'Runs of the family by result: ok (every config written), failed, skipped (another run held the lock), unchanged (keys kept, TTL renewed)',
    labelNames: ['family', 'result'] as const,
    registers: [this.registry],
  });
  private readonly learned = this.gauge('stats_refresh_learned_requests', 'Requests learned from the keys the API wrote, refreshed with the family');
  private readonly drift = new Gauge({
    name: 'stats_refresh_drift',
    help: "1 while drift is recorded for the endpoint: the API's answers differ from what stats-refresh computes (its runs yield the endpoint to the API unless --on-drift warn)",
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });
  // schedule only: what its self-healing check saw and did.
  private readonly missing = this.gauge('stats_refresh_missing_keys', 'schedule: covered keys of the family missing at the last check');
  private readonly heals = new Counter({
    name: 'stats_refresh_self_heals_total',
    help: 'schedule: runs of the family started because its keys were missing',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });

  /** `process` adds the Node.js process metrics (memory, CPU, event loop), for a long-running process. */
  constructor(options: { process?: boolean; families?: readonly Family[] } = {}) {
    if (options.process) collectDefaultMetrics({ register: this.registry });
    // Counters start at 0, so that rate() and increase() see the first run.
    for (const family of options.families ?? []) {
      for (const result of RUN_RESULTS) this.runs.inc({ family, result }, 0);
      this.heals.inc({ family }, 0);
    }
  }

  private gauge(name: string, help: string): Gauge<'family'> {
    return new Gauge({ name, help, labelNames: ['family'] as const, registers: [this.registry] });
  }

  /**
   * Records a family's run. A skipped run only counts, an unchanged one is also a success
   * (its keys are exact and live on): the other gauges keep describing the last run that computed.
   */
  recordRun(outcome: FamilyOutcome): void {
    const { family } = outcome;
    this.runs.inc({ family, result: outcome.result });
    if (outcome.result === 'unchanged') this.lastSuccess.set({ family }, outcome.finishedAt.getTime() / 1000);
    if (outcome.result === 'skipped' || outcome.result === 'unchanged') return;
    if (outcome.result === 'ok') this.lastSuccess.set({ family }, outcome.finishedAt.getTime() / 1000);
    this.duration.set({ family }, outcome.durationSeconds);
    this.requests.set({ family, result: 'ok' }, outcome.requestsOk);
    this.requests.set({ family, result: 'failed' }, outcome.requestsFailed);
    this.keysWritten.set({ family }, outcome.keysWritten);
    this.statements.set({ family }, outcome.statements);
    this.learned.set({ family }, outcome.learnedRequests);
    if (outcome.drift !== null) this.drift.set({ endpoint: family }, outcome.drift ? 1 : 0);
  }

  /** schedule: the family's covered keys missing at the last check. */
  setMissingKeys(family: Family, count: number): void {
    this.missing.set({ family }, count);
  }

  /** schedule: a run of the family started to restore missing keys. */
  countSelfHeal(family: Family): void {
    this.heals.inc({ family });
  }

  /** The exposition text for GET /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Unregisters every metric without a sample, so a push never replaces a stored value with nothing. */
  async dropEmpty(): Promise<void> {
    for (const { name } of this.registry.getMetricsAsArray()) {
      const metric = this.registry.getSingleMetric(name);
      if (metric && (await metric.get()).values.length === 0) this.registry.removeSingleMetric(name);
    }
  }
}

/**
 * `schedule`'s metrics: the runs' and, besides, why runs start, the change probe, the
 * database budget and each family's data age. Kept out of one-shot runs' pushes (metrics
 * without labels always have a sample).
 */
export class ScheduleMetrics extends RefreshMetrics {
  private readonly runsByReason = new Counter({
    name: 'stats_refresh_schedule_runs_total',
    help: 'schedule: runs started, by reason (start, change, budget-delayed, time, heal, cron)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly probeDuration = new Histogram({
    name: 'stats_refresh_probe_duration_seconds',
    help: 'schedule (change mode): wall time of each change probe that answered',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  private readonly probeFailures = new Counter({
    name: 'stats_refresh_probe_failures_total',
    help: 'schedule (change mode): change probes that failed (PostgreSQL restarting, unreachable)',
    registers: [this.registry],
  });
  private readonly probeInterval = new Gauge({
    name: 'stats_refresh_probe_interval_seconds',
    help: 'schedule (change mode): the change probe\'s interval now: --probe-interval, or --quiet-probe-interval after 2 minutes without a change',
    registers: [this.registry],
  });
  private readonly budgetLeft = new Gauge({
    name: 'stats_refresh_db_budget_seconds',
    help: 'schedule (change mode): PostgreSQL seconds left in the database budget (negative: spent ahead by runs it does not hold)',
    registers: [this.registry],
  });
  private readonly reconcileMismatches = new Counter({
    name: 'stats_refresh_reconcile_mismatches_total',
    help: 'schedule (change mode): rows the reconciliation found different between memory and a fresh load (a defect, or a change the indexed reads cannot see by design), by table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  private readonly reconciles = new Counter({
    name: 'stats_refresh_reconciles_total',
    help: 'schedule (change mode): reconciliations of the rows kept in memory with a fresh load',
    registers: [this.registry],
  });
  private readonly stateReloads = new Counter({
    name: 'stats_refresh_state_reloads_total',
    help: 'schedule (change mode): full reloads of the rows kept in memory, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly stateRows = new Gauge({
    name: 'stats_refresh_state_rows',
    help: 'schedule (change mode): rows kept in memory, by table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  /** When each family's keys were last computed for (ms), read at scrape time. */
  private readonly dataAsOf = new Map<Family, number>();
  private readonly dataAge = new Gauge({
    name: 'stats_refresh_data_age_seconds',
    help: "schedule: now minus the instant the family's keys were last computed for (its last run that wrote every config)",
    labelNames: ['family'] as const,
    registers: [this.registry],
    collect: () => this.collectDataAge(),
  });

  constructor(families: readonly Family[]) {
    super({ process: true, families });
    for (const reason of RUN_REASONS) this.runsByReason.inc({ reason }, 0);
    for (const table of STATE_TABLES) this.reconcileMismatches.inc({ table }, 0);
  }

  /** schedule: a reconciliation compared memory with a fresh load; `mismatches`: rows that differed, by table. */
  recordReconcile(mismatches: Readonly<Record<StateTable, number>>): void {
    this.reconciles.inc();
    for (const table of STATE_TABLES) this.reconcileMismatches.inc({ table }, mismatches[table]);
  }

  /** schedule: the rows kept in memory were read whole, and why (a fixed code). */
  countReload(reason: string): void {
    this.stateReloads.inc({ reason });
  }

  /** schedule: rows kept in memory now. */
  setStateRows(rows: Readonly<Record<StateTable, number>>): void {
    for (const table of STATE_TABLES) this.stateRows.set({ table }, rows[table]);
  }

  private collectDataAge(): void {
    this.dataAge.reset();
    const now = Date.now();
    for (const [family, asOf] of this.dataAsOf) this.dataAge.set({ family }, (now - asOf) / 1000);
  }

  /** schedule: a run started, and why. */
  countRun(reason: RunReason): void {
    this.runsByReason.inc({ reason });
  }

  /** schedule: one change probe's outcome (its wall time when it answered). */
  recordProbe(seconds: number | null): void {
    if (seconds === null) this.probeFailures.inc();
    else this.probeDuration.observe(seconds);
  }

  /** schedule: the change probe's interval now, in seconds. */
  setProbeInterval(seconds: number): void {
    this.probeInterval.set(seconds);
  }

  /** schedule: the database budget left, in seconds. */
  setBudgetLeft(seconds: number): void {
    this.budgetLeft.set(seconds);
  }

  /** schedule: the family's keys now hold values computed for `asOf`. */
  setDataAsOf(family: Family, asOf: Date): void {
    this.dataAsOf.set(family, asOf.getTime());
  }
}

/**
 * Pushes each outcome to the Pushgateway under `{job="stats-refresh", family}`, with POST:
 * only the metrics pushed replace the stored ones, so a failed run leaves the family's
 * last success timestamp as it was. Resolves to the error of each family not pushed.
 */
export async function pushOutcomes(url: string, outcomes: readonly FamilyOutcome[]): Promise<Map<Family, Error>> {
  const errors = new Map<Family, Error>();
  await Promise.all(
    outcomes.map(async (outcome) => {
      const metrics = new RefreshMetrics();
      metrics.recordRun(outcome);
      await metrics.dropEmpty();
      const gateway = new Pushgateway(url, { timeout: PUSH_TIMEOUT_MS }, metrics.registry);
      try {
        await gateway.pushAdd({ jobName: PUSH_JOB, groupings: { family: outcome.family } });
      } catch (error) {
        errors.set(outcome.family, error instanceof Error ? error : new Error(String(error)));
      }
    }),
  );
  return errors;
}
