/**
 * The data a run reads, each loaded at most once per run and only when the plan needs
 * it. Loads run in parallel, bounded by the run's concurrency; a failed load fails only
 * the configs built on it.
 */
import type { LimitFunction } from 'p-limit';
import type { Db } from './io/db.js';
import type { RunPlan } from './plan.js';
import { loadExecutionsByScript } from './queries/executions-by-script.js';
import { loadUserScan } from './queries/executions-by-user.js';
import { loadTimeline } from './queries/execution-timeline.js';
import { loadHourlyStarts } from './queries/hourly-starts.js';
import { loadScripts } from './queries/scripts.js';
import { loadCountries, loadRegistrations, loadUserTotals } from './queries/users.js';
import { type RetryPolicy, withRetry } from './lib/retry.js';
import { taskName } from './lib/slug.js';

const NO_RETRY: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

export interface SourceOptions {
  /** Called after every statement, for metrics and debug logs. */
  readonly observe?: (name: string, ms: number, error?: unknown) => void;
  readonly onRetry?: (name: string, attempt: number, delayMs: number, error: unknown) => void;
  readonly retry?: RetryPolicy;
  /** Once aborted, no new statement starts; those in flight finish. */
  readonly signal?: AbortSignal;
}

export class Sources {
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Db,
    readonly plan: RunPlan,
    private readonly limit: LimitFunction,
    private readonly options: SourceOptions = {},
  ) {}

  private async timed<T>(name: string, query: () => Promise<T>): Promise<T> {
    const { signal, observe } = this.options;
    if (signal?.aborted) throw new Error(`not started: shutting down (${String(signal.reason)})`);
    const started = performance.now();
    try {
      const result = await query();
      observe?.(name, performance.now() - started);
      return result;
    } catch (error) {
      observe?.(name, performance.now() - started, error);
      throw error;
    }
  }

  private load<T>(name: string, query: () => Promise<T>): Promise<T> {
    let pending = this.cache.get(name) as Promise<T> | undefined;
    if (!pending) {
      const { retry = NO_RETRY, onRetry, signal } = this.options;
      pending = this.limit(() =>
        withRetry(
          () => this.timed(name, query),
          retry,
          (attempt, delayMs, error) => onRetry?.(name, attempt, delayMs, error),
          () => !signal?.aborted,
        ),
      ).catch((error: unknown) => {
        throw new Error(`query ${name} failed: ${(error as Error).message}`, { cause: error });
      });
      // Failures surface through the configs that await it; never as an unhandled rejection.
      pending.catch(() => undefined);
      this.cache.set(name, pending);
    }
    return pending;
  }

  /** Computes a value at most once per run (sections shared by several configs). */
  memo<T>(name: string, compute: () => Promise<T>): Promise<T> {
    let pending = this.cache.get(`memo:${name}`) as Promise<T> | undefined;
    if (!pending) {
      pending = compute();
      pending.catch(() => undefined);
      this.cache.set(`memo:${name}`, pending);
    }
    return pending;
  }

  scripts() {
    return this.load('scripts', () => loadScripts(this.db));
  }

  executionsByScript() {
    return this.load('executions_by_script', () => loadExecutionsByScript(this.db, this.plan));
  }

  userTotals() {
    return this.load('user_totals', () => loadUserTotals(this.db, this.plan, this.plan.summary));
  }

  hourlyStarts() {
    return this.load('hourly_starts', () => loadHourlyStarts(this.db, this.plan));
  }

  countries() {
    return this.load('countries', () => loadCountries(this.db, this.plan));
  }

  registrations() {
    return this.load('registrations', () => loadRegistrations(this.db, this.plan));
  }

  userScan() {
    return this.load('executions_by_user', () => loadUserScan(this.db, this.plan));
  }

  /** Waits for the scripts outside the concurrency limit, so a full pool cannot deadlock. */
  async timeline() {
    const scripts = await this.scripts();
    const taskOfScript = new Map([...scripts].map(([id, slug]) => [id, taskName(slug)]));
    return this.load('execution_timeline', () => loadTimeline(this.db, this.plan, taskOfScript));
  }
}
