/**
 * schedule's data in memory: the `execution` and `"user"` rows every payload is computed
 * from, loaded once and then kept up to date by reading only the rows that can have changed
 * since the change probe's last look (src/pass/change-probe.ts): executions started or
 * ended since its watermarks, users registered since. A pass for any plan and instant comes
 * from the rows kept: the pass kept for the plan's shape moved on by what changed and what a
 * window's edge passed (kept-passes.ts), else a replay of every row (execution-rows.ts), so
 * windows move with time at no database cost.
 *
 * What the indexed reads cannot find makes a full reload: rows deleted (the delete counters
 * moved), rows inserted that no read found (insert-account.ts), counters reset (a restart),
 * a failed read, another database or changed columns. A reload every reconcile interval
 * compares what memory held with the fresh rows (state-diff.ts): what the reads cannot see
 * by design (a finished run's status rewritten, a user's country edited) shows there.
 */
import type { Db } from '../io/db.js';
import { type ChangeFingerprint, fingerprintText, WATCHED_RUNS } from '../pass/change-probe.js';
import type { CopyPool } from '../pass/copy.js';
import { ExecutionFolds, type ExecutionPass, executionColumns } from '../pass/execution-pass.js';
import type { LoadPlan } from '../pass/plan.js';
import type { ScriptRows } from '../pass/scripts.js';
import type { LoadedUsers } from '../pass/user-table.js';
import { ExecutionRows } from './execution-rows.js';
import { validUntilIn } from './horizon.js';
import { counterOf, InsertAccount } from './insert-account.js';
import { KeptPasses, type PassKind } from './kept-passes.js';
import { SectionTexts } from './section-texts.js';
import { agreesWithProbe } from './probe-agreement.js';
import { RunReads } from './run-reads.js';
import { diffExecutionsInPlace, diffUsers, type StateDiff } from './state-diff.js';
import { earlierWatermark, type ExecutionWindows, intoBoth, readExecutions, readUsers, type Upserting } from './table-reads.js';
import { UserRows } from './user-rows.js';

/** Sends one statement, counted and observed as the load's own (src/pass/load.ts). */
export type SendStatement = <T>(name: StateStatement, statement: () => Promise<T>) => Promise<T>;
export type StateStatement = 'execution_rows' | 'user_rows' | 'change_probe';

export interface StateDeps {
  readonly db: Db;
  readonly pool: CopyPool;
  readonly clock: () => number;
  /** A full reload at least this often compares memory with the fresh rows. */
  readonly reconcileIntervalMs: number;
  /** How many newest runs by start and by end the probe watches (src/pass/change-probe.ts; tests watch a few). */
  readonly watched?: number;
  /** The probe, when the state needs a fingerprint and none was observed yet. */
  readonly probe: (signal?: AbortSignal) => Promise<ChangeFingerprint>;
  /** Whether passes are kept between runs and moved on (the default), or every pass replays every row (to measure the difference). */
  readonly keepPasses?: boolean;
  /** Hears every full load (why) and every reconciliation (what differed). */
  readonly onReload?: (reason: ReloadReason, table: 'execution' | 'user' | null) => void;
  readonly onReconcile?: (diff: StateDiff) => void;
}

/** How a sync brought the rows up to date. */
export type SyncKind = 'unchanged' | 'incremental' | 'reload' | 'reconcile';

/** Why the rows were read whole: a metric label each, with the sentence logged. */
export const RELOAD_REASONS = {
  start: 'no rows held yet',
  fault: 'a read failed: its rows may be half applied',
  source: 'the database or its columns changed',
  deleted: 'rows were deleted (a delete counter moved)',
  unseen: 'rows were inserted or deleted where no indexed read finds them (the insert counter, confirmed by a count)',
  reset: 'the counters went back (a restart or a reset)',
} as const;
export type ReloadReason = keyof typeof RELOAD_REASONS;

/** Why a reload is needed, and of which table's counters (null: not one table's). */
interface Verdict {
  readonly reason: ReloadReason;
  readonly table: 'execution' | 'user' | null;
}

/** What a read of the changed rows covers. */
interface Windows {
  readonly executions: ExecutionWindows;
  readonly users: string | null;
}

interface Tables {
  readonly executions: ExecutionRows;
  readonly users: UserRows;
}

/** Where the next reads start, and how the counters stood at the load. */
interface Bookkeeping {
  started: string | null;
  ended: string | null;
  newestStart: string | null;
  newestEnd: string | null;
  newestUser: string | null;
  readonly executionInserts: InsertAccount;
  readonly userInserts: InsertAccount;
  readonly executionDeletes: bigint | null;
  readonly userDeletes: bigint | null;
  readonly source: string;
  readonly loadedAt: number;
  /** The fingerprint (as text) the rows were last read after. */
  read: string;
}

/** The database and the columns the rows were read from: another one, or changed columns, make a reload. */
const sourceOf = (fingerprint: ChangeFingerprint) => `${fingerprint.source.database}/${fingerprint.source.columns}`;

/** The rows to make room for: the rows held before, else the counters' inserted less deleted, within bounds. */
function sizeHint(counters: { readonly inserted: string | null; readonly deleted: string | null } | undefined, held: number | undefined, least: number): number {
  const counted = counters?.inserted && counters.deleted ? Number(counters.inserted) - Number(counters.deleted) : 0;
  return Math.min(2 ** 26, Math.max(least, held ?? 0, Number.isFinite(counted) ? Math.ceil(counted * 1.1) : 0));
}

/**
 * Empty `rows` receiving a whole table's batches, appended without looking their ids up (the
 * primary key), each folded into `folds` (when given) as soon as it is in.
 */
function appending(rows: ExecutionRows, folds: ExecutionFolds | null): Upserting {
  const replay = folds ? rows.replayer(folds, executionColumns(folds.plan)) : null;
  return {
    upsert(tuples, skip) {
      const before = rows.count;
      const added = rows.append(tuples, skip);
      replay?.(before, rows.count);
      return added;
    },
  };
}

/**
 * Waits for both whole-table reads, started at once as a one-shot run reads its two tables (the
 * users' read hides in the executions'); the first failure once both are settled.
 */
async function bothRead(executions: Promise<unknown>, users: Promise<unknown>): Promise<void> {
  const failed = (await Promise.allSettled([executions, users])).find((read) => read.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * A fresh read of `execution` compared with `kept` as it streams: each row's id marked in
 * `seen`, the rows `kept` lacks or holds otherwise put in `differing`.
 */
function comparedWith(kept: ExecutionRows, seen: Uint8Array, differing: ExecutionRows): Upserting {
  return {
    upsert(tuples, skip) {
      const same = new Uint8Array(tuples.size);
      for (let tuple = 0; tuple < tuples.size; tuple++) {
        if (skip?.(tuple)) continue;
        const row = kept.rowOfTuple(tuples, tuple);
        if (row < 0) continue;
        seen[row] = 1;
        if (kept.holds(tuples, tuple, row)) same[tuple] = 1;
      }
      return differing.upsert(tuples, (tuple) => skip?.(tuple) === true || same[tuple] === 1);
    },
  };
}

export class MemoryState {
  private tables: Tables | null = null;
  private books: Bookkeeping | null = null;
  /** The newest fingerprint the probe took: every row it saw is visible to a read after it. */
  private latest: ChangeFingerprint | null = null;
  /** Why the next sync reloads (null: it need not). */
  private reloadReason: ReloadReason | null = 'start';
  /** How the last sync went (null: none yet). */
  lastSync: SyncKind | null = null;
  /** The folds the last sync fed while it read `execution` whole (their pass is the replay's). */
  private fed: ExecutionFolds | null = null;
  /** The passes of the last plan shapes, kept between runs and moved on (kept-passes.ts). */
  private readonly kept = new KeptPasses();
  /** How each pass was made since the state began: a test and a bench read it. */
  readonly passes: Record<PassKind, number> = { fed: 0, replayed: 0, moved: 0 };
  /** The catalog, scripts and emails runs read, kept while nothing shows them changed (run-reads.ts). */
  readonly reads = new RunReads(() => this.latest, () => this.quiet());
  /** The section texts of the last run, given again while what they are built from is the same (section-texts.ts). */
  readonly sections = new SectionTexts();

  constructor(private readonly deps: StateDeps) {}

  /** Hears each fingerprint the change probe takes. */
  observe(fingerprint: ChangeFingerprint): void {
    this.latest = fingerprint;
  }

  /** Drops the rows: the next sync reloads them (a failed read may have applied half its rows). */
  invalidate(reason: ReloadReason): void {
    this.tables = null;
    this.books = null;
    this.reloadReason = reason;
    this.reads.synced('changed');
  }

  /** Whether a sync now would find that time alone passed: the latest fingerprint is the last read's, no reload nor reconciliation due. */
  private quiet(): boolean {
    const { books, latest } = this;
    if (this.reloadReason !== null || !books || !latest || this.deps.clock() >= books.loadedAt + this.deps.reconcileIntervalMs) return false;
    return fingerprintText(latest) === books.read;
  }

  /** Whether rows are held: none before the first load, nor after a failed read dropped them. */
  get holdsRows(): boolean {
    return this.tables !== null;
  }

  /** Rows held (0 before the first load). */
  get rows(): { readonly executions: number; readonly users: number } {
    return { executions: this.tables?.executions.count ?? 0, users: this.tables?.users.count ?? 0 };
  }

  /**
   * Brings the rows up to date with the database as of the latest fingerprint (probing first
   * when none was taken): the changed rows, or a full load when they cannot be told apart.
   * A failure drops the rows and rethrows: nothing is computed from a half-applied read.
   */
  async sync(send: SendStatement, signal?: AbortSignal, feed?: () => Promise<ExecutionFolds | null>): Promise<SyncKind> {
    this.lastSync = null;
    this.fed = null;
    this.lastSync = await this.syncOnce(send, signal, feed);
    this.reads.synced(this.lastSync === 'unchanged' ? 'unchanged' : 'changed');
    return this.lastSync;
  }

  private async syncOnce(send: SendStatement, signal?: AbortSignal, feed?: () => Promise<ExecutionFolds | null>): Promise<SyncKind> {
    try {
      const fingerprint = this.latest ?? (await send('change_probe', () => this.deps.probe(signal)));
      this.latest = fingerprint;
      const reason = this.reasonToReload(fingerprint);
      if (reason !== null) {
        await this.reload(send, fingerprint, reason.reason, reason.table, signal, feed);
        return 'reload';
      }
      if (this.deps.clock() >= this.books!.loadedAt + this.deps.reconcileIntervalMs) {
        await this.reconcile(send, fingerprint, signal);
        return 'reconcile';
      }
      // The probe saw nothing move since the last read (time alone passed): nothing to read.
      if (fingerprintText(fingerprint) === this.books!.read) return 'unchanged';
      // First the rows newer than the last read's newest (new runs, runs just ended); the
      // probe's windows only when memory then still differs from what the probe saw (a
      // status moved inside them).
      const tables = this.tables!;
      const since = this.windowsFor(fingerprint);
      await this.readChanges(tables, send, this.newerThanLastRead(), { since: since.users }, signal);
      if (!agreesWithProbe(tables.executions, fingerprint, this.deps.watched ?? WATCHED_RUNS)) {
        await this.readChanges(tables, send, since.executions, null, signal);
      }
      const unseen = await this.unseenInserts(send, fingerprint, since, signal);
      this.advance(fingerprint);
      if (unseen !== null) {
        await this.reload(send, fingerprint, unseen.reason, unseen.table, signal, feed);
        return 'reload';
      }
      return 'incremental';
    } catch (error) {
      this.invalidate('fault');
      throw error;
    }
  }

  private reasonToReload(fingerprint: ChangeFingerprint): Verdict | null {
    if (this.reloadReason !== null || !this.tables || !this.books) return { reason: this.reloadReason ?? 'start', table: null };
    const books = this.books;
    if (sourceOf(fingerprint) !== books.source) return { reason: 'source', table: null };
    const moved = (counter: string | null, base: bigint | null) => base !== null && counter !== null && BigInt(counter) !== base;
    if (moved(fingerprint.executions.deleted, books.executionDeletes)) return { reason: 'deleted', table: 'execution' };
    if (moved(fingerprint.users.deleted, books.userDeletes)) return { reason: 'deleted', table: 'user' };
    return null;
  }

  /**
   * Why a reload is needed after a read, judged by the insert counters (and, when they are
   * ahead of the rows read, by a count of the table in a read's snapshot); null when every
   * insert was found.
   */
  private async unseenInserts(send: SendStatement, fingerprint: ChangeFingerprint, since: Windows, signal?: AbortSignal): Promise<Verdict | null> {
    const books = this.books!;
    const tables = this.tables!;
    const { db, pool } = this.deps;
    const checks = [
      {
        table: 'execution' as const,
        account: books.executionInserts,
        counter: fingerprint.executions.inserted,
        held: () => tables.executions.count,
        count: () => send('execution_rows', () => readExecutions(db, pool, tables.executions, since.executions, { signal, count: true })),
      },
      {
        table: 'user' as const,
        account: books.userInserts,
        counter: fingerprint.users.inserted,
        held: () => tables.users.count,
        count: () => send('user_rows', () => readUsers(db, pool, tables.users, since.users, { signal, count: true })),
      },
    ];
    const now = this.deps.clock();
    for (const { table, account, counter, held, count } of checks) {
      const verdict = account.judge(counter, now);
      if (verdict === 'counter-reset') return { reason: 'reset', table };
      if (verdict !== 'count') continue;
      if ((await count()).tableRows !== held()) return { reason: 'unseen', table };
      account.settled(counter, now);
    }
    return null;
  }

  /** Reads both tables whole, in place of what memory held. */
  private async reload(
    send: SendStatement,
    fingerprint: ChangeFingerprint,
    reason: ReloadReason,
    table: Verdict['table'],
    signal?: AbortSignal,
    feed?: () => Promise<ExecutionFolds | null>,
  ): Promise<void> {
    this.deps.onReload?.(reason, table);
    this.tables = null;
    const folds = (await feed?.()) ?? null;
    this.tables = await this.loadTables(send, signal, folds);
    if (folds) this.fed = folds;
    this.books = this.bookkeepingOf(fingerprint);
    this.reloadReason = null;
  }

  /** Both tables whole; `folds`, when given, are fed each batch of executions as it arrives. */
  private async loadTables(send: SendStatement, signal?: AbortSignal, folds: ExecutionFolds | null = null): Promise<Tables> {
    // Sized for the rows the counters say the tables hold (inserted less deleted, when readable):
    // growing by doubling would rehash a million ids several times.
    const fingerprint = this.latest;
    const executions = new ExecutionRows(sizeHint(fingerprint?.executions, this.tables?.executions.count, 64 * 1024));
    const users = new UserRows(sizeHint(fingerprint?.users, this.tables?.users.count, 16 * 1024));
    const { db, pool } = this.deps;
    await bothRead(
      send('execution_rows', () => readExecutions(db, pool, appending(executions, folds), null, { signal })),
      send('user_rows', () => readUsers(db, pool, users, null, { signal })),
    );
    return { executions, users };
  }

  private bookkeepingOf(fingerprint: ChangeFingerprint): Bookkeeping {
    return {
      started: fingerprint.executions.startedSince,
      ended: fingerprint.executions.endedSince,
      newestStart: fingerprint.executions.newestStart,
      newestEnd: fingerprint.executions.newestEnd,
      newestUser: fingerprint.users.newestCreated,
      executionInserts: new InsertAccount(counterOf(fingerprint.executions.inserted)),
      userInserts: new InsertAccount(counterOf(fingerprint.users.inserted)),
      executionDeletes: counterOf(fingerprint.executions.deleted),
      userDeletes: counterOf(fingerprint.users.deleted),
      source: sourceOf(fingerprint),
      loadedAt: this.deps.clock(),
      read: fingerprintText(fingerprint),
    };
  }

  /**
   * What a read after `fingerprint` covers: executions started or ended since the earlier of
   * the last read's and this fingerprint's watermarks (a run that left the probe's view since
   * the last read is read once more), users created since.
   */
  private windowsFor(fingerprint: ChangeFingerprint): Windows {
    const books = this.books!;
    return {
      executions: {
        started: earlierWatermark(books.started, fingerprint.executions.startedSince),
        ended: earlierWatermark(books.ended, fingerprint.executions.endedSince),
      },
      users: earlierWatermark(books.newestUser, fingerprint.users.newestCreated),
    };
  }

  /** Executions started or ended after the newest the last read's fingerprint showed (null: read the windows). */
  private newerThanLastRead(): ExecutionWindows | null {
    const books = this.books!;
    if (books.newestStart === null || books.newestEnd === null) return null;
    return { started: books.newestStart, ended: books.newestEnd, after: true };
  }

  /**
   * Reads executions in `executions` (null: all) and, unless `users` is null, users created
   * since its watermark (null: all) into `targets`, counting the rows new to them.
   */
  private async readChanges(
    targets: Tables,
    send: SendStatement,
    executions: ExecutionWindows | null,
    users: { readonly since: string | null } | null,
    signal?: AbortSignal,
  ): Promise<void> {
    const { db, pool } = this.deps;
    const read = await send('execution_rows', () => readExecutions(db, pool, targets.executions, executions, { signal }));
    this.books!.executionInserts.add(read.added);
    if (users === null) return;
    const readUsersSince = await send('user_rows', () => readUsers(db, pool, targets.users, users.since, { signal }));
    this.books!.userInserts.add(readUsersSince.added);
  }

  /** The next read starts from this fingerprint's watermarks. */
  private advance(fingerprint: ChangeFingerprint): void {
    const books = this.books!;
    books.started = fingerprint.executions.startedSince;
    books.ended = fingerprint.executions.endedSince;
    books.newestStart = fingerprint.executions.newestStart;
    books.newestEnd = fingerprint.executions.newestEnd;
    books.newestUser = fingerprint.users.newestCreated;
    books.read = fingerprintText(fingerprint);
  }

  /**
   * Compares memory with a fresh read of both tables, keeping memory (and the passes kept from
   * it) when they agree. `execution` is compared as it streams, never held twice: only the fresh
   * rows memory lacks or holds otherwise are kept aside. `"user"` (small) is loaded whole. Then
   * the changed rows are read into memory and into the fresh rows alike (so a change landing
   * between the two reads is in both), and what still differs is the verdict. A difference (a
   * defect, or a change the indexed reads cannot see) in `execution` reloads both tables; in
   * `"user"` alone, the fresh users replace memory's.
   */
  private async reconcile(send: SendStatement, fingerprint: ChangeFingerprint, signal?: AbortSignal): Promise<void> {
    const kept = this.tables!;
    const since = this.windowsFor(fingerprint);
    const { db, pool } = this.deps;
    const differing = new ExecutionRows(1024);
    const seen = new Uint8Array(kept.executions.count);
    const users = new UserRows(sizeHint(fingerprint.users, kept.users.count, 16 * 1024));
    await bothRead(
      send('execution_rows', () => readExecutions(db, pool, comparedWith(kept.executions, seen, differing), null, { signal })),
      send('user_rows', () => readUsers(db, pool, users, null, { signal })),
    );
    await send('execution_rows', () => readExecutions(db, pool, intoBoth(kept.executions, differing), since.executions, { signal }));
    await send('user_rows', () => readUsers(db, pool, intoBoth(kept.users, users), since.users, { signal }));
    const diff = {
      executions: diffExecutionsInPlace(kept.executions, differing, seen.length - seen.reduce((sum, flag) => sum + flag, 0)),
      users: diffUsers(kept.users, users),
    };
    this.deps.onReconcile?.(diff);
    if (diff.executions.rows > 0) {
      // Freed first, not held beside the fresh rows: the passes kept follow these rows.
      this.kept.clear();
      this.tables = null;
      this.tables = await this.loadTables(send, signal);
    } else if (diff.users.rows > 0) {
      // A user's country edited, say: the fresh users (brought to the same instant) replace them.
      this.tables = { executions: kept.executions, users };
    }
    this.books = this.bookkeepingOf(fingerprint);
  }

  /**
   * Until when payloads computed at `nowMs` from the rows held stay exact (null: no bound);
   * undefined when no rows are held.
   */
  validUntil(nowMs: number): Date | null | undefined {
    if (!this.tables) return undefined;
    const { executions, users } = this.tables;
    return validUntilIn([...executions.timeColumns(), { values: users.createdAt, count: users.count }], nowMs);
  }

  /** The users as the user sections read them. */
  users(): LoadedUsers {
    if (!this.tables) throw new Error('the state holds no rows: it was not synced');
    return this.tables.users;
  }

  /**
   * The pass `plan` asks for: the folds the last sync fed while reading the table whole, else
   * the pass kept for the plan's shape moved on to it, else replayed from memory (and kept).
   */
  executionPass(plan: LoadPlan, scripts: ScriptRows): ExecutionPass {
    if (!this.tables) throw new Error('the state holds no rows: it was not synced');
    const fed = this.fed;
    this.fed = null;
    if (this.deps.keepPasses === false) return this.passOnce(plan, scripts, fed);
    const { pass, kind } = this.kept.passFor(plan, scripts, this.tables.executions, fed);
    this.passes[kind] += 1;
    return pass;
  }

  /** The pass without keeping it: the fed folds', else a replay of every row. */
  private passOnce(plan: LoadPlan, scripts: ScriptRows, fed: ExecutionFolds | null): ExecutionPass {
    if (fed && fed.plan === plan && fed.scripts.rows === scripts) {
      this.passes.fed += 1;
      return fed.result(0);
    }
    const folds = new ExecutionFolds(plan, scripts);
    this.tables!.executions.replay(folds, executionColumns(plan));
    this.passes.replayed += 1;
    return folds.result(0);
  }
}
