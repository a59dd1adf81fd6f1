/**
 * What the pass hands its folds: execution rows decoded a batch at a time into columns of
 * numbers (microseconds, dictionary indexes), and the fold interface. A fold loops over a
 * batch's columns: no object per row, one call per fold and batch.
 */
import { TupleBatch } from './copy-parser.js';
import type { TextDictionary } from './dictionary.js';

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

  /** Forgets the exact values of this batch, before the next is decoded. */
  clearExact(): void {
    for (const row of this.exactRows) {
      this.startExact[row] = null;
      this.endExact[row] = null;
    }
    this.exactRows.length = 0;
  }
}

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
