/**
 * The data a run reads, each loaded at most once per run and only when the plan needs it:
 * the script table (a small query), the `"user"` table and the `execution` table (one
 * binary COPY pass each), and the top users' details (one small look-up after the pass).
 * Loads run in parallel, bounded by the run's concurrency; a failed load fails only the
 * configs built on it, and a retried load starts over (nothing half-folded is kept).
 */
import type { LimitFunction } from 'p-limit';
import type { Db } from './io/db.js';
import { type RetryPolicy, withRetry } from './lib/retry.js';
import type { CopyPool } from './pass/copy.js';
import { type ExecutionPass, readsExecutions, runExecutionPass } from './pass/execution-pass.js';
import { loadScripts, type ScriptCatalog } from './pass/scripts.js';
import { loadUserDetails, type UserDetails } from './pass/top-users.js';
import { loadUserTable, type UserColumns, type UserTable } from './pass/user-table.js';
import type { RunPlan } from './plan.js';

const NO_RETRY: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

/** The most users any top list shows. */
export const TOP_USERS_LIMIT = 10;

export interface SourceOptions {
  /** Called after every statement, for metrics and debug logs. */
  readonly observe?: (name: string, ms: number, error?: unknown, bytes?: number) => void;
  readonly onRetry?: (name: string, attempt: number, delayMs: number, error: unknown) => void;
  readonly retry?: RetryPolicy;
  /** Once aborted, no new statement starts; those in flight finish (or are cancelled by `cancel()`). */
  readonly signal?: AbortSignal;
}

/** The user-table columns a plan reads. */
export function userColumns(plan: RunPlan): UserColumns {
  return {
    id: plan.activity.length > 0,
    country: plan.geographic.length > 0 || plan.activity.length > 0 || plan.registration.length > 0,
    createdAt: plan.summary.length > 0 || plan.geographic.length > 0 || plan.registration.length > 0,
  };
}

export class Sources {
  private readonly cache = new Map<string, Promise<unknown>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Aborted by cancel(): stops the COPY statements on the server. */
  private readonly cancelled = new AbortController();

  constructor(
    private readonly db: Db,
    private readonly pool: CopyPool,
    readonly plan: RunPlan,
    private readonly limit: LimitFunction,
    private readonly options: SourceOptions = {},
  ) {}

  private async timed<T>(name: string, query: () => Promise<T>, bytesOf: (result: T) => number | undefined): Promise<T> {
    const { signal, observe } = this.options;
    if (signal?.aborted) throw new Error(`not started: shutting down (${String(signal.reason)})`);
    const started = performance.now();
    try {
      const result = await query();
      observe?.(name, performance.now() - started, undefined, bytesOf(result));
      return result;
    } catch (error) {
      observe?.(name, performance.now() - started, error);
      throw error;
    }
  }

  private load<T>(name: string, query: () => Promise<T>, bytesOf: (result: T) => number | undefined = () => undefined): Promise<T> {
    let pending = this.cache.get(name) as Promise<T> | undefined;
    if (!pending) {
      const { retry = NO_RETRY, onRetry, signal } = this.options;
      pending = this.limit(() =>
        withRetry(
          () => this.timed(name, query, bytesOf),
          retry,
          (attempt, delayMs, error) => onRetry?.(name, attempt, delayMs, error),
          () => !signal?.aborted && !this.cancelled.signal.aborted,
        ),
      ).catch((error: unknown) => {
        throw new Error(`query ${name} failed: ${(error as Error).message}`, { cause: error });
      });
      // Failures surface through the configs that await it; never as an unhandled rejection.
      const settled = pending.catch(() => undefined);
      this.inFlight.add(settled);
      void settled.then(() => this.inFlight.delete(settled));
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

  /**
   * Cancels the statements still running (on the server) and waits, at most `waitMs`, for
   * them to stop: for a shutdown whose grace period is over.
   */
  async cancel(waitMs = 5_000): Promise<void> {
    this.cancelled.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.inFlight),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  scripts(): Promise<ScriptCatalog> {
    return this.load('scripts', () => loadScripts(this.db, this.plan.taskTypes));
  }

  userTable(): Promise<UserTable> {
    return this.load(
      'user_table',
      () => loadUserTable(this.db, this.pool, userColumns(this.plan), this.cancelled.signal),
      (table) => table.bytes,
    );
  }

  /** The pass over `execution`; waits for the scripts outside the concurrency limit, so a full pool cannot deadlock. */
  async executions(): Promise<ExecutionPass> {
    if (!readsExecutions(this.plan)) throw new Error('the plan reads no executions');
    const catalog = await this.scripts();
    return this.load(
      'execution_pass',
      () => runExecutionPass(this.db, this.pool, this.plan, catalog, this.cancelled.signal),
      (pass) => pass.bytes,
    );
  }

  /** Email and all-time executions per script of every user ranked in some top list. */
  async userDetails(): Promise<Map<string, UserDetails>> {
    const pass = await this.executions();
    const ids = new Set<string>();
    this.plan.topUsers.forEach((_, need) => {
      for (const ranked of pass.users!.top(need, TOP_USERS_LIMIT)) ids.add(pass.users!.idOf(ranked.user));
    });
    return this.load('top_user_details', () => loadUserDetails(this.db, [...ids]));
  }
}
