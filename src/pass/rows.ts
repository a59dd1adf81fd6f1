/**
 * What the pass hands its folds: execution rows decoded a batch at a time into columns of
 * numbers (microseconds, dictionary indexes), and the fold interface. A fold loops over a
 * batch's columns: no object per row, one call per fold and batch. Decoding is column by
 * column too: each loop is small enough for the compiler to keep whole.
 */
import { int32At, int8At, TupleBatch } from './copy-parser.js';
import type { TextDictionary, UuidDictionary } from './dictionary.js';

/** How a status counts: the three the API counts apart; the other statuses (and NULL) alike. */
export const enum StatusKind {
  Other = 0,
  Finished = 1,
  Failed = 2,
  Cancelled = 3,
}

/** Rows decoded as columns; row r of every column is the same execution. */
export class ExecutionBatch {
  static readonly SIZE = TupleBatch.SIZE;
  size = 0;
  /** +1: the folds add the rows; -1: they take out rows added before (state kept in memory moving on). */
  weight: 1 | -1 = 1;
  /** start_date and end_date in µs since 2000-01-01; NaN for NULL, and for a column the pass does not read. */
  readonly start = new Float64Array(ExecutionBatch.SIZE).fill(Number.NaN);
  readonly end = new Float64Array(ExecutionBatch.SIZE).fill(Number.NaN);
  /**
   * The exact values of the rows whose dates are beyond ±2^53 µs (about 285 years from 2000),
   * null elsewhere; `exactRows` lists those rows so they can be cleared.
   */
  readonly startExact: Array<bigint | null> = new Array<bigint | null>(ExecutionBatch.SIZE).fill(null);
  readonly endExact: Array<bigint | null> = new Array<bigint | null>(ExecutionBatch.SIZE).fill(null);
  readonly exactRows: number[] = [];
  /** Status dictionary index (0 for NULL) and its kind. */
  readonly status = new Int32Array(ExecutionBatch.SIZE);
  readonly kind = new Uint8Array(ExecutionBatch.SIZE);
  /** Script dictionary index (-1 for NULL). */
  readonly script = new Int32Array(ExecutionBatch.SIZE).fill(-1);
  /** The start tier (see startCuts in pass/plan.ts). */
  readonly startTier = new Int32Array(ExecutionBatch.SIZE);
  /** The user's uuid words (four per row) and whether the row has a user. */
  readonly userWords = new Int32Array(4 * ExecutionBatch.SIZE);
  readonly hasUser = new Uint8Array(ExecutionBatch.SIZE);
  /** Filled in by the user fold: each row's user number (-1 for none). */
  readonly user = new Int32Array(ExecutionBatch.SIZE).fill(-1);

  /** Starts a batch of `size` rows, with no exact value left from the last one. */
  begin(size: number): void {
    this.size = size;
    for (const row of this.exactRows) {
      this.startExact[row] = null;
      this.endExact[row] = null;
    }
    this.exactRows.length = 0;
  }

  /** start_date from `field`, and each row's start tier among `cuts` (newest first; see startCuts). */
  decodeStart(tuples: TupleBatch, field: number, cuts: Float64Array): void {
    const { bytes, offsets, lengths, fields } = tuples;
    const { start, startTier } = this;
    for (let row = 0; row < this.size; row++) {
      const slot = row * fields + field;
      const micros = int8At(bytes, offsets[slot]!, lengths[slot]!);
      start[row] = micros;
      startTier[row] = tierOf(cuts, micros);
      if (beyondExact(micros)) this.keepExact(this.startExact, row, tuples.int8Exact(row, field));
    }
  }

  /** The start tier every row has when start_date is not read: the last (as NULL). */
  startTierless(tiers: number): void {
    this.startTier.fill(tiers - 1, 0, this.size);
  }

  decodeEnd(tuples: TupleBatch, field: number): void {
    const { bytes, offsets, lengths, fields } = tuples;
    const end = this.end;
    for (let row = 0; row < this.size; row++) {
      const slot = row * fields + field;
      const micros = int8At(bytes, offsets[slot]!, lengths[slot]!);
      end[row] = micros;
      if (beyondExact(micros)) this.keepExact(this.endExact, row, tuples.int8Exact(row, field));
    }
  }

  decodeStatus(tuples: TupleBatch, field: number, statuses: TextDictionary, kinds: StatusKinds): void {
    const { status, kind } = this;
    for (let row = 0; row < this.size; row++) {
      const index = statuses.indexOf(tuples, row, field);
      status[row] = index;
      kind[row] = kinds.kindOf(index);
    }
  }

  decodeScript(tuples: TupleBatch, field: number, scripts: UuidDictionary): void {
    const { lengths, fields } = tuples;
    const script = this.script;
    for (let row = 0; row < this.size; row++) script[row] = lengths[row * fields + field]! < 0 ? -1 : scripts.indexOf(tuples, row, field);
  }

  /** The user's uuid words, looked up later all at once (see UserRunsFold.resolve). */
  decodeUser(tuples: TupleBatch, field: number): void {
    const { bytes, offsets, lengths, fields } = tuples;
    const { userWords, hasUser } = this;
    for (let row = 0; row < this.size; row++) {
      const slot = row * fields + field;
      if (lengths[slot]! < 0) {
        hasUser[row] = 0;
        continue;
      }
      hasUser[row] = 1;
      const at = offsets[slot]!;
      userWords[4 * row] = int32At(bytes, at);
      userWords[4 * row + 1] = int32At(bytes, at + 4);
      userWords[4 * row + 2] = int32At(bytes, at + 8);
      userWords[4 * row + 3] = int32At(bytes, at + 12);
    }
  }

  /** Keeps the exact value of a date beyond ±2^53 µs (its Number is only close). */
  keepExact(column: Array<bigint | null>, row: number, exact: bigint): void {
    column[row] = exact;
    this.exactRows.push(row);
  }
}

/** Whether a timestamp read as a Number is only close to its int8 (finite, beyond ±2^53 µs: about 285 years from 2000). */
const beyondExact = (micros: number) => (micros > Number.MAX_SAFE_INTEGER || micros < -Number.MAX_SAFE_INTEGER) && Number.isFinite(micros);

/** A consumer of the pass: folds each batch into what it keeps, holding no row. */
export interface Fold<Result> {
  add(batch: ExecutionBatch): void;
  result(): Result;
}

const KINDS: Readonly<Record<string, StatusKind>> = {
  FINISHED: StatusKind.Finished,
  FAILED: StatusKind.Failed,
  CANCELLED: StatusKind.Cancelled,
};

/** Kinds by status index, learnt as the dictionary grows. */
export class StatusKinds {
  private kinds = new Uint8Array(0);

  constructor(private readonly statuses: TextDictionary) {}

  /** The kind of a status index of the dictionary. */
  kindOf(status: number): StatusKind {
    if (status >= this.kinds.length) this.learn(status);
    return this.kinds[status] as StatusKind;
  }

  /** Reads every name again: a new index is rare (the API has six statuses). */
  private learn(status: number): void {
    const { names } = this.statuses;
    if (status >= names.length) throw new Error(`status index ${status} is not in the dictionary`);
    const kinds = new Uint8Array(names.length);
    names.forEach((name, index) => {
      kinds[index] = name === null ? StatusKind.Other : (KINDS[name] ?? StatusKind.Other);
    });
    this.kinds = kinds;
  }
}

/** The index of the first cut (newest first) at or before `micros`, or cuts.length (older, or NULL). */
export function tierOf(cuts: ArrayLike<number>, micros: number): number {
  let tier = 0;
  while (tier < cuts.length && !(micros >= cuts[tier]!)) tier++;
  return tier;
}
