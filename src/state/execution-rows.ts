/**
 * The `execution` table kept in memory, one row per id, as columns: what schedule's change
 * mode holds between runs. Rows come from binary COPY batches (the whole table, or the rows
 * an indexed read found) and are replaced whole by id; a pass for any plan is then a replay
 * of these columns through the same folds the COPY pass feeds (src/pass/execution-pass.ts),
 * so a payload from memory is the payload a fresh read of the same rows would give. Once a
 * pass is kept between runs, the rows also journal each row's values before a change and
 * file rows by time, so that the pass can be moved on by the few rows that changed or crossed
 * a window's edge (kept-passes.ts).
 */
import type { TupleBatch } from '../pass/copy-parser.js';
import { TextDictionary, UuidDictionary } from '../pass/dictionary.js';
import type { TimeColumn } from './horizon.js';
import { IdIndex } from './id-index.js';
import { checkRowCount, type ExecutionColumns, type ExecutionFolds } from '../pass/execution-pass.js';
import { ExecutionBatch, tierOf } from '../pass/rows.js';
import { TimeBuckets } from './time-buckets.js';

/** The columns kept, in the order every COPY of the state reads them. */
export const EXECUTION_FIELDS = ['id', 'start_date', 'end_date', 'status', 'script_id', 'user_id'] as const;
const [ID, START, END, STATUS, SCRIPT, USER] = [0, 1, 2, 3, 4, 5];

/** Whether a timestamp read as a Number is only close to its int8 (beyond ±2^53 µs). */
const beyondExact = (micros: number) => (micros > Number.MAX_SAFE_INTEGER || micros < -Number.MAX_SAFE_INTEGER) && Number.isFinite(micros);

/** One row as values, for comparisons and tests: uuids and statuses as text, dates as exact µs (null for NULL). */
export interface ExecutionRowValues {
  readonly id: string;
  readonly start: bigint | null;
  readonly end: bigint | null;
  readonly status: string | null;
  readonly script: string | null;
  readonly user: string | null;
}

/** The rows as the change probe sees them (see ExecutionRows.probeView). */
export interface ProbeView {
  readonly newestStart: number | null;
  readonly newestEnd: number | null;
  /** Rows started (ended) at or after the bound, and strictly after it, every status. */
  readonly startedCount: number;
  readonly endedCount: number;
  readonly startedAfter: number;
  readonly endedAfter: number;
  readonly byStatus: ReadonlyMap<string | null, { readonly started: number; readonly ended: number }>;
}

/** A row's values as stored (see the columns of ExecutionRows), kept when a change overwrites them. */
export interface StoredRow {
  readonly start: number;
  readonly end: number;
  readonly status: number;
  readonly script: number;
  readonly user: number;
  readonly startExact: bigint | undefined;
  readonly endExact: bigint | undefined;
}

/** The rows a change touched since a journal position, each with its values then (null: added since). */
export type RowChanges = ReadonlyMap<number, StoredRow | null>;

const sameStored = (a: StoredRow, b: StoredRow) =>
  Object.is(a.start, b.start) &&
  Object.is(a.end, b.end) &&
  a.status === b.status &&
  a.script === b.script &&
  a.user === b.user &&
  a.startExact === b.startExact &&
  a.endExact === b.endExact;

interface ByTime {
  readonly start: TimeBuckets;
  readonly end: TimeBuckets;
  readonly event: TimeBuckets;
}

/** Changes the journal holds at most: past that it forgets them all (a kept pass then replays). */
const JOURNAL_LIMIT = 1 << 18;

/** Statuses whose time series event is the end (see TimelineFold). */
const ENDING_STATUSES: ReadonlySet<string | null> = new Set(['FINISHED', 'FAILED', 'CANCELLED']);

export class ExecutionRows {
  /** Row number by id: a row keeps its number for as long as it is kept. */
  readonly ids: IdIndex;
  readonly statuses = new TextDictionary();
  readonly scripts = new UuidDictionary();
  readonly users: UuidDictionary;
  /** µs since 2000-01-01, NaN for NULL. */
  private start: Float64Array;
  private end: Float64Array;
  /** Index in `statuses` (0: NULL). */
  private status: Int32Array;
  /** Index in `scripts` / `users`, -1 for NULL. */
  private script: Int32Array;
  private user: Int32Array;
  /** The exact value of the dates beyond ±2^53 µs, by row (rare: about 285 years from 2000). */
  private readonly exactStart = new Map<number, bigint>();
  private readonly exactEnd = new Map<number, bigint>();
  /**
   * Each change since journaling began, in order, with the row's values before it: a pass kept
   * between runs takes those out and the values now in. Null until a pass is kept.
   */
  private journal: Array<{ readonly row: number; readonly before: StoredRow | null }> | null = null;
  /** The position of journal[0]: positions count changes since journaling began. */
  private journalBase = 0;
  /** Rows by start, end and time series event time, built at the first look (null: not yet). */
  private byTime: ByTime | null = null;
  /** Per status index: rows, and rows with a start and with an end (what a view without a bound counts). */
  private readonly perStatus = { rows: [] as number[], started: [] as number[], ended: [] as number[] };

  constructor(expected = 1024) {
    this.ids = new IdIndex(expected);
    this.users = new UuidDictionary(Math.max(1024, expected >> 4));
    this.start = new Float64Array(expected);
    this.end = new Float64Array(expected);
    this.status = new Int32Array(expected);
    this.script = new Int32Array(expected);
    this.user = new Int32Array(expected);
  }

  get count(): number {
    return this.ids.size;
  }

  /** The start and end columns, for the validity horizon (src/state/horizon.ts). */
  timeColumns(): TimeColumn[] {
    return [
      { values: this.start, count: this.count },
      { values: this.end, count: this.count },
    ];
  }

  /**
   * Decodes a batch of tuples (fields in EXECUTION_FIELDS order) and puts each row in place
   * of the row with its id, or after the others; returns how many were new (`skip`: tuples
   * that are not rows).
   */
  upsert(tuples: TupleBatch, skip?: (tuple: number) => boolean): number {
    return this.put(tuples, skip, false);
  }

  /**
   * Puts every row after the others without looking its id up: for a whole table read into
   * empty rows, whose ids are its primary key. The ids are indexed at the first look-up.
   */
  append(tuples: TupleBatch, skip?: (tuple: number) => boolean): number {
    return this.put(tuples, skip, true);
  }

  private put(tuples: TupleBatch, skip: ((tuple: number) => boolean) | undefined, appending: boolean): number {
    let added = 0;
    for (let tuple = 0; tuple < tuples.size; tuple++) {
      if (skip?.(tuple)) continue;
      const before = this.ids.size;
      const [w0, w1, w2, w3] = [tuples.word(tuple, ID, 0), tuples.word(tuple, ID, 1), tuples.word(tuple, ID, 2), tuples.word(tuple, ID, 3)];
      const row = appending ? this.ids.append(w0, w1, w2, w3) : this.ids.add(w0, w1, w2, w3);
      if (row === before) {
        added++;
        this.ensureCapacity(row + 1);
      }
      const following = this.journal !== null || this.byTime !== null;
      const previous = following && row !== before ? this.stored(row) : null;
      if (row !== before) this.countByStatus(row, -1);
      this.start[row] = this.date(tuples, tuple, START, this.exactStart, row);
      this.end[row] = this.date(tuples, tuple, END, this.exactEnd, row);
      this.status[row] = this.statuses.indexOf(tuples, tuple, STATUS);
      this.script[row] = tuples.isNull(tuple, SCRIPT) ? -1 : this.scripts.indexOf(tuples, tuple, SCRIPT);
      this.user[row] = tuples.isNull(tuple, USER) ? -1 : this.users.indexOf(tuples, tuple, USER);
      this.countByStatus(row, 1);
      // A row read again as it was (the probe's windows are read whole, run after run) is
      // neither journaled nor filed again: no fold moves, and the buckets do not grow.
      if (following && (previous === null || !sameStored(previous, this.stored(row)))) this.follow(row, previous);
    }
    checkRowCount(this.ids.size);
    return added;
  }

  /** The row of the id tuple `tuple` holds (fields in EXECUTION_FIELDS order), or -1: looked up, never added. */
  rowOfTuple(tuples: TupleBatch, tuple: number): number {
    return this.ids.rowOf(tuples.word(tuple, ID, 0), tuples.word(tuple, ID, 1), tuples.word(tuple, ID, 2), tuples.word(tuple, ID, 3));
  }

  /**
   * Whether tuple `tuple` holds the values row `row` holds. A status, script or user it names
   * that the rows never met is learnt by their dictionary (and then differs).
   */
  holds(tuples: TupleBatch, tuple: number, row: number): boolean {
    return (
      this.holdsDate(tuples, tuple, START, this.start[row]!, this.exactStart, row) &&
      this.holdsDate(tuples, tuple, END, this.end[row]!, this.exactEnd, row) &&
      this.statuses.indexOf(tuples, tuple, STATUS) === this.status[row] &&
      (tuples.isNull(tuple, SCRIPT) ? this.script[row] === -1 : this.scripts.indexOf(tuples, tuple, SCRIPT) === this.script[row]) &&
      (tuples.isNull(tuple, USER) ? this.user[row] === -1 : this.users.indexOf(tuples, tuple, USER) === this.user[row])
    );
  }

  private holdsDate(tuples: TupleBatch, tuple: number, field: number, stored: number, exact: Map<number, bigint>, row: number): boolean {
    if (tuples.isNull(tuple, field)) return stored !== stored;
    const micros = tuples.int8(tuple, field);
    if (micros !== stored) return false;
    return !beyondExact(micros) || exact.get(row) === tuples.int8Exact(tuple, field);
  }

  /** Counts a row in (1) or out (-1) of its status's counts. */
  private countByStatus(row: number, weight: 1 | -1): void {
    const { rows, started, ended } = this.perStatus;
    const status = this.status[row]!;
    rows[status] = (rows[status] ?? 0) + weight;
    if (this.start[row] === this.start[row]) started[status] = (started[status] ?? 0) + weight;
    if (this.end[row] === this.end[row]) ended[status] = (ended[status] ?? 0) + weight;
  }

  private date(tuples: TupleBatch, tuple: number, field: number, exact: Map<number, bigint>, row: number): number {
    if (tuples.isNull(tuple, field)) {
      exact.delete(row);
      return Number.NaN;
    }
    const micros = tuples.int8(tuple, field);
    if (beyondExact(micros)) exact.set(row, tuples.int8Exact(tuple, field));
    else exact.delete(row);
    return micros;
  }

  private ensureCapacity(rows: number): void {
    if (rows <= this.start.length) return;
    const capacity = Math.max(rows, 2 * this.start.length);
    const grow = <T extends Float64Array | Int32Array>(column: T, grown: T): T => {
      grown.set(column);
      return grown;
    };
    this.start = grow(this.start, new Float64Array(capacity));
    this.end = grow(this.end, new Float64Array(capacity));
    this.status = grow(this.status, new Int32Array(capacity));
    this.script = grow(this.script, new Int32Array(capacity));
    this.user = grow(this.user, new Int32Array(capacity));
  }

  /** Row `row`'s values as stored. */
  private stored(row: number): StoredRow {
    return {
      start: this.start[row]!,
      end: this.end[row]!,
      status: this.status[row]!,
      script: this.script[row]!,
      user: this.user[row]!,
      startExact: this.exactStart.get(row),
      endExact: this.exactEnd.get(row),
    };
  }

  /** Journals a row's change (values before it; null: new) and files it by its times now. */
  private follow(row: number, before: StoredRow | null): void {
    this.byTime?.start.file(row, this.start[row]!);
    this.byTime?.end.file(row, this.end[row]!);
    this.byTime?.event.file(row, this.eventTime(row));
    if (this.journal === null) return;
    const journal = this.journal;
    if (journal.length >= JOURNAL_LIMIT) {
      this.journalBase += journal.length;
      journal.length = 0;
    }
    journal.push({ row, before });
  }

  /** Starts keeping the journal of changes (once a pass is kept between runs); a no-op when it is kept. */
  startJournal(): void {
    this.journal ??= [];
  }

  /** The position of the next change: a pass kept now reads the changes from there. */
  get journalPosition(): number {
    return this.journalBase + (this.journal?.length ?? 0);
  }

  /**
   * The rows changed since `position`, each with its values at that position (null: added
   * since); null when the journal no longer reaches back that far.
   */
  changesSince(position: number): RowChanges | null {
    if (this.journal === null || position < this.journalBase) return null;
    const changes = new Map<number, StoredRow | null>();
    for (let at = position - this.journalBase; at < this.journal.length; at++) {
      const { row, before } = this.journal[at]!;
      if (!changes.has(row)) changes.set(row, before);
    }
    return changes;
  }

  /** Forgets the changes before `position` (no kept pass reads them any more). */
  forgetBefore(position: number): void {
    if (this.journal === null || position <= this.journalBase) return;
    const drop = Math.min(position - this.journalBase, this.journal.length);
    this.journal.splice(0, drop);
    this.journalBase += drop;
  }

  /** The time series' event time of a row: the end of a finished, failed or cancelled run that has one, else the start. */
  private eventTime(row: number): number {
    const end = this.end[row]!;
    return end === end && ENDING_STATUSES.has(this.statuses.names[this.status[row]!]!) ? end : this.start[row]!;
  }

  /**
   * Adds to `into` the rows whose start lies in one of `starts` or whose event time lies in
   * one of `events` ([from, to) each): the rows a window's edge passed as it moved on.
   */
  rowsCrossing(starts: ReadonlyArray<readonly [number, number]>, events: ReadonlyArray<readonly [number, number]>, into: Set<number>): void {
    const byTime = this.timeIndex();
    const startOf = (row: number) => this.start[row]!;
    const eventOf = (row: number) => this.eventTime(row);
    for (const [from, to] of starts) byTime.start.rowsIn(from, to, startOf, into);
    for (const [from, to] of events) byTime.event.rowsIn(from, to, eventOf, into);
  }

  private timeIndex(): ByTime {
    if (this.byTime) return this.byTime;
    const byTime = { start: new TimeBuckets(), end: new TimeBuckets(), event: new TimeBuckets() };
    byTime.start.fileEvery(this.count, (row) => this.start[row]!);
    byTime.end.fileEvery(this.count, (row) => this.end[row]!);
    byTime.event.fileEvery(this.count, (row) => this.eventTime(row));
    this.byTime = byTime;
    return byTime;
  }

  /**
   * Feeds the rows listed to `folds` with `weight`, decoded as `replayer` decodes them: each
   * with its values now or, when `before` holds it, its values then.
   */
  feed(folds: ExecutionFolds, columns: ExecutionColumns, rows: Iterable<number>, weight: 1 | -1, before?: RowChanges): void {
    const batch = new ExecutionBatch();
    batch.weight = weight;
    const { statusIndex, scriptIndex } = this.translations(folds);
    const lastTier = folds.tierCount - 1;
    const flush = () => {
      if (batch.size > 0) folds.fold(batch);
      batch.begin(0);
    };
    batch.begin(0);
    for (const row of rows) {
      const values = before?.get(row) ?? this.stored(row);
      const at = batch.size++;
      if (columns.start_date) {
        batch.start[at] = values.start;
        batch.startTier[at] = tierOf(folds.cuts, values.start);
        if (values.startExact !== undefined) batch.keepExact(batch.startExact, at, values.startExact);
      } else batch.startTier[at] = lastTier;
      if (columns.end_date) {
        batch.end[at] = values.end;
        if (values.endExact !== undefined) batch.keepExact(batch.endExact, at, values.endExact);
      }
      if (columns.status) {
        const status = statusIndex(values.status);
        batch.status[at] = status;
        batch.kind[at] = folds.kinds.kindOf(status);
      }
      if (columns.script_id) batch.script[at] = scriptIndex(values.script);
      if (columns.user_id) this.userInto(batch, at, values.user);
      if (batch.size === ExecutionBatch.SIZE) flush();
    }
    flush();
  }

  /** The folds' own status and script indexes of stored ones, learnt as the rows meet them (as a COPY numbers them). */
  private translations(folds: ExecutionFolds): { statusIndex: (stored: number) => number; scriptIndex: (stored: number) => number } {
    let statusOf: Int32Array = new Int32Array(0);
    let scriptOf: Int32Array = new Int32Array(0);
    const widened = (translation: Int32Array, index: number): Int32Array => {
      if (index < translation.length) return translation;
      const grown = new Int32Array(Math.max(2 * translation.length, index + 16)).fill(-1);
      grown.set(translation);
      return grown;
    };
    const statusIndex = (stored: number) => {
      if (stored === 0) return 0;
      statusOf = widened(statusOf, stored);
      if (statusOf[stored]! < 0) statusOf[stored] = folds.statuses.indexOfText(this.statuses.names[stored]!);
      return statusOf[stored]!;
    };
    const scriptIndex = (stored: number) => {
      if (stored < 0) return -1;
      scriptOf = widened(scriptOf, stored);
      if (scriptOf[stored]! < 0) scriptOf[stored] = folds.scripts.dictionary.indexOfText(this.scripts.textOf(stored), true);
      return scriptOf[stored]!;
    };
    return { statusIndex, scriptIndex };
  }

  /** Feeds every row to `folds` (see `replayer`). */
  replay(folds: ExecutionFolds, columns: ExecutionColumns): void {
    this.replayer(folds, columns)(0, this.count);
  }

  /**
   * A function that feeds rows `from` to `to` to `folds`, a batch at a time, decoded as the
   * COPY pass decodes the columns `columns` names (the others as if not read): statuses and
   * scripts get the folds' own indexes in the order the rows meet them, as in a COPY. That
   * order is the rows' order here and the heap's there, so no payload may depend on it (the
   * differential test, test/integration/memory-state.test.ts, holds them to it). It keeps those
   * translations across calls (a load feeds each batch as it arrives).
   */
  replayer(folds: ExecutionFolds, columns: ExecutionColumns): (from: number, to: number) => void {
    const batch = new ExecutionBatch();
    const { statusIndex, scriptIndex } = this.translations(folds);
    const { cuts } = folds;
    const lastTier = folds.tierCount - 1;
    return (from, to) => {
      for (let first = from; first < to; first += ExecutionBatch.SIZE) {
        const size = Math.min(ExecutionBatch.SIZE, to - first);
        batch.begin(size);
        for (let at = 0; at < size; at++) {
          const row = first + at;
          if (columns.start_date) {
            const start = this.start[row]!;
            batch.start[at] = start;
            batch.startTier[at] = tierOf(cuts, start);
            if (this.exactStart.size > 0 && this.exactStart.has(row)) batch.keepExact(batch.startExact, at, this.exactStart.get(row)!);
          } else batch.startTier[at] = lastTier;
          if (columns.end_date) {
            batch.end[at] = this.end[row]!;
            if (this.exactEnd.size > 0 && this.exactEnd.has(row)) batch.keepExact(batch.endExact, at, this.exactEnd.get(row)!);
          }
          if (columns.status) {
            const status = statusIndex(this.status[row]!);
            batch.status[at] = status;
            batch.kind[at] = folds.kinds.kindOf(status);
          }
          if (columns.script_id) batch.script[at] = scriptIndex(this.script[row]!);
          if (columns.user_id) this.userInto(batch, at, this.user[row]!);
        }
        folds.fold(batch);
      }
    };
  }

  private userInto(batch: ExecutionBatch, at: number, user: number): void {
    if (user < 0) {
      batch.hasUser[at] = 0;
      return;
    }
    batch.hasUser[at] = 1;
    for (let word = 0; word < 4; word++) batch.userWords[4 * at + word] = this.users.wordOf(user, word);
  }

  /**
   * What the change probe would report of these rows (src/pass/change-probe.ts): the newest
   * start and end, and per status the runs started at or after `startedSince` and ended at
   * or after `endedSince` (null: no bound), each count capped at `cap`; statuses NULL as null.
   * Every status any row holds is listed (NULL always). The newest rows are read from the
   * newest time buckets and the windows from the buckets at and after their bounds; the
   * counts without a bound are kept as rows change.
   */
  probeView(startedSince: number | null, endedSince: number | null, cap: number): ProbeView {
    const byTime = this.timeIndex();
    const names = this.statuses.names;
    const startOf = (row: number) => this.start[row]!;
    const endOf = (row: number) => this.end[row]!;
    /** Per status, the rows whose time is at or after `since`, and how many are, and strictly after it. */
    const window = (buckets: TimeBuckets, timeOf: (row: number) => number, since: number | null, unbounded: readonly number[]) => {
      const perStatus = new Float64Array(names.length);
      let count = 0;
      let after = 0;
      if (since === null) {
        for (let status = 0; status < names.length; status++) perStatus[status] = unbounded[status] ?? 0;
        count = after = perStatus.reduce((sum, rows) => sum + rows, 0);
        return { perStatus, count, after };
      }
      const rows = new Set<number>();
      buckets.rowsFrom(since, timeOf, rows);
      for (const row of rows) {
        perStatus[this.status[row]!]!++;
        count++;
        if (timeOf(row) > since) after++;
      }
      return { perStatus, count, after };
    };
    const started = window(byTime.start, startOf, startedSince, this.perStatus.started);
    const ended = window(byTime.end, endOf, endedSince, this.perStatus.ended);
    const byStatus = new Map<string | null, { started: number; ended: number }>();
    names.forEach((name, status) => {
      if ((this.perStatus.rows[status] ?? 0) > 0 || status === 0) {
        byStatus.set(name, { started: Math.min(cap, started.perStatus[status]!), ended: Math.min(cap, ended.perStatus[status]!) });
      }
    });
    const finite = (micros: number) => (Number.isFinite(micros) ? micros : null);
    return {
      newestStart: finite(byTime.start.newest(startOf)),
      newestEnd: finite(byTime.end.newest(endOf)),
      startedCount: started.count,
      endedCount: ended.count,
      startedAfter: started.after,
      endedAfter: ended.after,
      byStatus,
    };
  }

  /** Row `row` as values. */
  valuesOf(row: number): ExecutionRowValues {
    const exact = (values: Float64Array, exacts: Map<number, bigint>) => {
      const micros = values[row]!;
      return micros !== micros ? null : (exacts.get(row) ?? BigInt(micros));
    };
    const status = this.status[row]!;
    return {
      id: this.ids.textOf(row),
      start: exact(this.start, this.exactStart),
      end: exact(this.end, this.exactEnd),
      status: status === 0 ? null : this.statuses.names[status]!,
      script: this.script[row]! < 0 ? null : this.scripts.textOf(this.script[row]!),
      user: this.user[row]! < 0 ? null : this.users.textOf(this.user[row]!),
    };
  }

  /** The row of an id given as text, or -1. */
  rowOf(id: string): number {
    return this.ids.rowOfText(id);
  }
}
