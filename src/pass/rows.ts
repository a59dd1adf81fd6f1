/**
 * What the pass hands its folds: one execution row at a time, decoded into a reused
 * object of numbers (microseconds, dictionary indexes), and the fold interface.
 */
import type { StatusDictionary } from './dictionary.js';

export interface ExecutionRow {
  /** start_date and end_date in µs since 2000-01-01; NaN for NULL. */
  start: number;
  end: number;
  /** The exact values when beyond ±2^53 µs (about 285 years from 2000), else null. */
  startExact: bigint | null;
  endExact: bigint | null;
  /** Status dictionary index (0 for NULL). */
  status: number;
  /** Script dictionary index (-1 for NULL). */
  script: number;
  /** The user's record in the user fold (-1 for NULL). */
  user: number;
  /** The start tier (see startCuts in pass/plan.ts). */
  startTier: number;
}

/**
 * Rows decoded a few hundred at a time, as columns, so the user look-ups of a batch can run
 * side by side (their cache misses overlap) before the rows go to the folds one by one.
 */
export class RowBatch {
  static readonly SIZE = 256;
  size = 0;
  /** NaN for NULL, and for a column the pass does not read. */
  readonly start = new Float64Array(RowBatch.SIZE).fill(Number.NaN);
  readonly end = new Float64Array(RowBatch.SIZE).fill(Number.NaN);
  readonly startExact: Array<bigint | null> = new Array<bigint | null>(RowBatch.SIZE).fill(null);
  readonly endExact: Array<bigint | null> = new Array<bigint | null>(RowBatch.SIZE).fill(null);
  readonly status = new Int32Array(RowBatch.SIZE);
  readonly script = new Int32Array(RowBatch.SIZE).fill(-1);
  /** The user's uuid words (four per row) and whether the row has a user. */
  readonly userWords = new Int32Array(4 * RowBatch.SIZE);
  readonly hasUser = new Uint8Array(RowBatch.SIZE);
  /** Filled in by the user fold: each row's user record (-1 for none). */
  readonly user = new Int32Array(RowBatch.SIZE).fill(-1);

  /** Copies row `index` into `row` (the one object the folds read). */
  load(index: number, row: ExecutionRow, cuts: readonly number[]): void {
    row.start = this.start[index]!;
    row.end = this.end[index]!;
    row.startExact = this.startExact[index]!;
    row.endExact = this.endExact[index]!;
    row.status = this.status[index]!;
    row.script = this.script[index]!;
    row.user = this.user[index]!;
    row.startTier = tierOf(cuts, row.start);
  }
}

/** A consumer of the pass: folds each row into what it keeps, holding no row. */
export interface Fold<Result> {
  add(row: ExecutionRow): void;
  result(): Result;
}

/** How a status counts: the three the API counts apart, and completion for the event time. */
export const enum StatusKind {
  Other = 0,
  Finished = 1,
  Failed = 2,
  Cancelled = 3,
}

const KINDS: Readonly<Record<string, StatusKind>> = {
  FINISHED: StatusKind.Finished,
  FAILED: StatusKind.Failed,
  CANCELLED: StatusKind.Cancelled,
};

/** Kinds by status index, learnt as the dictionary grows. */
export class StatusKinds {
  private kinds = new Uint8Array(0);

  constructor(private readonly statuses: StatusDictionary) {}

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
export function tierOf(cuts: readonly number[], micros: number): number {
  let tier = 0;
  while (tier < cuts.length && !(micros >= cuts[tier]!)) tier++;
  return tier;
}
