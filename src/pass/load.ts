/**
 * Phase 1 of a run: loading what the plan needs, each source at most once and only when
 * planned: the script table (a small query), the `"user"` and `execution` tables (one
 * binary COPY pass each) and the top users' emails (by primary key, after the pass).
 * Sources start at once, bounded by the run's concurrency; a failed source fails only
 * what is built on it, and a retried one starts over (nothing half-folded is kept).
 * The catalog, read before anything is planned, is retried, observed and counted the same way.
 */
import pLimit from 'p-limit';
import type { Db } from '../io/db.js';
import { settleWithinGrace } from '../lib/async.js';
import { errorMessage } from '../lib/errors.js';
import { type RetryPolicy, withRetry } from '../lib/retry.js';
import { type Catalog, readCatalog } from './catalog.js';
import type { CopyPool } from './copy.js';
import { ExecutionFolds, type ExecutionPass, rankedUsers, runExecutionPass } from './execution-pass.js';
import { type LoadPlan, SOURCE_INPUTS, SOURCE_NAMES, type SourceName } from './plan.js';
import { createRunData, type LoadedSources, type RunData } from './run-data.js';
import { loadScripts, type ReadScripts, type ScriptRows } from './scripts.js';
import { loadEmails } from './top-users.js';
import { type LoadedUsers, loadUserTable } from './user-table.js';

export interface LoadDeps {
  readonly db: Db;
  /** The same pool as `db`'s, for the COPY passes. */
  readonly pool: CopyPool;
  /** Rows kept in memory (schedule's change mode): the user table and the pass come from them, brought up to date first. */
  readonly memory?: MemorySource;
}

/**
 * Rows kept between runs, as a source of the user table and of the pass (src/state/): `sync`
 * reads what changed, each statement through `send`, so the load counts and observes it.
 */
export interface MemorySource {
  /**
   * `feed`: the folds of this load's pass, when it has one (null: its scripts did not load). A
   * sync that reads `execution` whole folds each batch as it arrives, as the COPY pass does,
   * instead of replaying every row after it.
   */
  sync(
    send: <T>(name: MemoryStatement, statement: () => Promise<T>) => Promise<T>,
    signal?: AbortSignal,
    feed?: () => Promise<ExecutionFolds | null>,
  ): Promise<unknown>;
  users(): LoadedUsers;
  /** The pass `plan` asks for: the folds fed by the sync when it read the table whole, else a replay of the rows. */
  executionPass(plan: LoadPlan, scripts: ScriptRows): ExecutionPass;
  /** What runs read besides the rows, kept while nothing shows it changed (src/state/run-reads.ts). */
  readonly reads: KeptReads;
}

/**
 * The catalog, the script table and the top users' emails as a memory source keeps them between
 * runs: each answered from what it holds while that is provably what a read would give, else
 * read (through `read`, so the load counts and observes the statement) and kept.
 */
export interface KeptReads {
  /**
   * The catalog last read, in a run after time alone passed and while the latest fingerprint
   * shows the same database and columns; its change counters are not kept (all null). Null: read it.
   */
  catalog(): Catalog | null;
  keepCatalog(catalog: Catalog): void;
  scripts(taskTypes: readonly string[], read: () => Promise<ReadScripts>): Promise<ScriptRows>;
  /** The emails of `userIds` that `"user"` holds; `read` is asked only for the ids not held. */
  emails(userIds: readonly string[], read: (userIds: readonly string[]) => Promise<ReadonlyMap<string, string>>): Promise<Map<string, string>>;
}

/** The statements a memory source sends. */
export type MemoryStatement = 'execution_rows' | 'user_rows' | 'change_probe';

/** What a statement is named in logs: a source, the catalog read before the plan, or a read of the rows kept in memory. */
export type StatementName = SourceName | 'catalog' | MemoryStatement;

/** How statements are retried and who hears of them. */
export interface StatementOptions {
  readonly retry: RetryPolicy;
  /** Once aborted (a shutdown signal), no statement starts, not even a retry. */
  readonly signal?: AbortSignal;
  /** Hears every statement as it ends, for metrics and debug logs. */
  readonly observe?: (statement: StatementName, ms: number, error?: unknown, bytes?: number) => void;
  readonly onRetry?: (statement: StatementName, attempt: number, delayMs: number, error: unknown) => void;
}

export interface LoadOptions extends StatementOptions {
  /** Statements at once. */
  readonly concurrency: number;
  /** Statements in flight when `signal` aborts get this long, then are cancelled on the server. */
  readonly gracePeriodMs?: number;
  /**
   * The load's own bound (the run deadline): when it passes, no statement starts and those
   * in flight are cancelled on the server and fail, whatever the server or the path does.
   */
  readonly deadlineMs?: number;
}

export interface Load {
  readonly data: RunData;
  /** Statements sent, retries included. */
  readonly statements: number;
  /** Milliseconds the statements that answered took, summed (backoff between retries left out). */
  readonly ms: number;
}

/** Sends one statement, counted and observed. */
type Send = <T>(name: StatementName, statement: () => Promise<T>) => Promise<T>;

type Loaders = {
  [K in SourceName]: (loaded: LoadedSources, cancel: AbortSignal, send: Send) => Promise<NonNullable<LoadedSources[K]>>;
};

/** The sources a memory source answers: no statement of their own, only its sync (and no connection held). */
const FROM_MEMORY: ReadonlySet<SourceName> = new Set(['user_table', 'execution_pass']);

/** The ids of the users ranked in some top list of the pass. */
function rankedIds(plan: LoadPlan, loaded: LoadedSources): string[] {
  const pass = loaded.execution_pass!;
  const users = pass.users!;
  return rankedUsers(plan, { ...pass, users }).map((user) => users.idOf(user));
}

function loadersOf(plan: LoadPlan, { db, pool, memory }: LoadDeps, synced: () => Promise<unknown>): Loaders {
  if (memory) {
    return {
      scripts: (_, __, send) => memory.reads.scripts(plan.taskTypes, () => send('scripts', () => loadScripts(db, pool, plan.taskTypes))),
      user_table: async () => {
        await synced();
        return memory.users();
      },
      execution_pass: async (loaded) => {
        await synced();
        return memory.executionPass(plan, loaded.scripts!);
      },
      top_user_emails: (loaded, _, send) =>
        memory.reads.emails(rankedIds(plan, loaded), (ids) => send('top_user_emails', () => loadEmails(db, pool, ids))),
    };
  }
  return {
    scripts: (_, __, send) => send('scripts', () => loadScripts(db, pool, plan.taskTypes)),
    user_table: (_, cancel, send) => send('user_table', () => loadUserTable(db, pool, plan.userColumns, cancel)),
    execution_pass: (loaded, cancel, send) => send('execution_pass', () => runExecutionPass(db, pool, plan, loaded.scripts!, cancel)),
    top_user_emails: (loaded, _, send) => send('top_user_emails', () => loadEmails(db, pool, rankedIds(plan, loaded))),
  };
}

const bytesOf = (value: unknown) => (value as { bytes?: number }).bytes;

/** Counts the statements a load sends, retries included, and tells `observe` of each as it ends. */
class StatementTally {
  count = 0;
  ms = 0;

  constructor(private readonly observe: StatementOptions['observe']) {}

  async send<T>(name: StatementName, statement: () => Promise<T>): Promise<T> {
    const begun = performance.now();
    this.count += 1;
    try {
      const value = await statement();
      this.ended(name, begun, undefined, bytesOf(value));
      return value;
    } catch (error) {
      this.ended(name, begun, error);
      throw error;
    }
  }

  private ended(name: StatementName, begun: number, error?: unknown, bytes?: number): void {
    const ms = performance.now() - begun;
    // A failed statement's time is mostly waiting (a silent server, a lost connection), not
    // work: counted, one outage would hold schedule's change runs for hours (its budget).
    if (error === undefined) this.ms += ms;
    this.observe?.(name, ms, error, bytes);
  }
}

export type CatalogLoad =
  | { readonly catalog: Catalog; readonly statements: number; readonly ms: number }
  | { readonly catalog: null; readonly error: unknown; readonly statements: number; readonly ms: number };

/**
 * Reads the catalog (column types, change counters), retried when the failure is transient;
 * never throws: a catalog that could not be read is returned as its error.
 */
export async function loadCatalog(db: Db, options: StatementOptions): Promise<CatalogLoad> {
  const tally = new StatementTally(options.observe);
  try {
    const catalog = await withRetry(
      () => tally.send('catalog', () => readCatalog(db)),
      options.retry,
      (attempt, delayMs, error) => options.onRetry?.('catalog', attempt, delayMs, error),
      () => !options.signal?.aborted,
    );
    return { catalog, statements: tally.count, ms: tally.ms };
  } catch (error) {
    return { catalog: null, error, statements: tally.count, ms: tally.ms };
  }
}

/** Loads every planned source; never throws: a source that failed is in `data.failures`. */
export async function loadRunData(plan: LoadPlan, deps: LoadDeps, options: LoadOptions): Promise<Load> {
  const { signal, observe, onRetry } = options;
  const tally = new StatementTally(observe);
  const limit = pLimit(options.concurrency);
  // Aborted when the grace period is over: stops the COPY statements still running, on the server.
  const cancel = new AbortController();
  const deadline = new AbortController();
  // The memory source's sync, once per load and retried as a statement is; it fails the sources built on it.
  let syncing: Promise<unknown> | undefined;
  // The pass's folds need the scripts: a sync that reads execution whole waits for them (a small
  // query). Signed: the state keeps them between runs and moves them on.
  const feed = plan.sources.has('execution_pass')
    ? async () => {
        await start('scripts').catch(() => undefined);
        return loaded.scripts ? new ExecutionFolds(plan, loaded.scripts, true) : null;
      }
    : undefined;
  const synced = () =>
    (syncing ??= withRetry(
      () => deps.memory!.sync((name, statement) => tally.send(name, statement), cancel.signal, feed),
      options.retry,
      (attempt, delayMs, error) => onRetry?.('execution_rows', attempt, delayMs, error),
      () => !signal?.aborted && !cancel.signal.aborted && !deadline.signal.aborted,
    ));
  const loaders = loadersOf(plan, deps, synced);
  const deadlineTimer = options.deadlineMs === undefined ? undefined : setTimeout(() => deadline.abort(), options.deadlineMs);
  const pastDeadline = () => `the run's deadline of ${(options.deadlineMs ?? 0) / 1000} s passed`;
  const loaded: { -readonly [K in keyof LoadedSources]: LoadedSources[K] } = {};
  const started = new Map<SourceName, Promise<void>>();

  const attempt = async (name: SourceName): Promise<unknown> => {
    if (signal?.aborted) throw new Error(`not started: shutting down (${String(signal.reason)})`);
    if (deadline.signal.aborted) throw new Error(`not started: ${pastDeadline()}`);
    return loaders[name](loaded, cancel.signal, (statement, run) => tally.send(statement, run));
  };
  const start = (name: SourceName): Promise<void> => {
    let pending = started.get(name);
    if (!pending) {
      pending = (async () => {
        // Inputs are awaited outside the concurrency limit, so a full pool cannot deadlock.
        await Promise.all(SOURCE_INPUTS[name].map(start));
        const attempts = () =>
          withRetry(
            () => attempt(name),
            options.retry,
            (attempt, delayMs, error) => onRetry?.(name, attempt, delayMs, error),
            () => !signal?.aborted && !cancel.signal.aborted && !deadline.signal.aborted,
          );
        // A source answered from memory holds no connection (its sync's statements do, one at a
        // time): outside the limit, so a sync waiting for the scripts cannot deadlock a full pool.
        const value = await (deps.memory && FROM_MEMORY.has(name) ? attempts() : limit(attempts));
        (loaded as Record<string, unknown>)[name] = value;
      })();
      started.set(name, pending);
    }
    return pending;
  };

  // In SOURCE_NAMES' order, inputs before what is built on them.
  const names = SOURCE_NAMES.filter((name) => plan.sources.has(name));
  const settled = await settleWithinGrace(names.map(start), signal, options.gracePeriodMs ?? 0, deadline.signal);
  clearTimeout(deadlineTimer);
  const failures = new Map<SourceName, Error>();
  const unfinished = settled.some((outcome) => outcome === undefined);
  names.forEach((name, index) => {
    const outcome = settled[index];
    if (outcome?.status === 'fulfilled') return;
    const input = SOURCE_INPUTS[name].find((candidate) => failures.has(candidate));
    if (input) {
      failures.set(name, new Error(`query ${name} not run: ${failures.get(input)!.message}`, { cause: failures.get(input) }));
      return;
    }
    const cause = outcome
      ? outcome.reason
      : new Error(deadline.signal.aborted ? `not finished: ${pastDeadline()}` : `not finished before shutdown (${String(signal?.reason)})`);
    failures.set(name, new Error(`query ${name} failed: ${errorMessage(cause)}`, { cause }));
  });
  if (unfinished) await cancelInFlight(cancel, [...started.values()]);
  return { data: createRunData(plan, loaded, failures), statements: tally.count, ms: tally.ms };
}

/** Cancels the statements still running and waits, at most `waitMs`, for them to stop. */
async function cancelInFlight(cancel: AbortController, inFlight: ReadonlyArray<Promise<unknown>>, waitMs = 5_000): Promise<void> {
  cancel.abort();
  await settleWithinGrace(
    inFlight.map((task) => task.catch(() => undefined)),
    AbortSignal.abort(),
    waitMs,
  );
}
