/**
 * Rows by time, coarsely: each row number is filed under the bucket of a time it had (about
 * 18 minutes wide), so the rows whose time lies in a short range (the instants a window's
 * edge passed since the last run) are found by reading a bucket or two, never the whole
 * table. A row whose time changes is filed again under its new bucket; the old entry stays
 * and is told apart by checking the row's time now, so filing costs a push, never a search.
 */
import { lowerBound } from '../lib/sorted.js';

/** 2^30 µs: about 17.9 minutes. */
const BUCKET_MICROS = 2 ** 30;

const bucketOf = (micros: number) => Math.floor(micros / BUCKET_MICROS);

export class TimeBuckets {
  private readonly buckets = new Map<number, number[]>();
  /** The buckets' keys, ascending. */
  private readonly keys: number[] = [];

  /** Files `row` under the bucket of `micros` (NULL and infinite times are never in a range: not filed). */
  file(row: number, micros: number): void {
    if (!this.fileUnder(row, micros)) return;
    const keys = this.keys;
    const key = bucketOf(micros);
    // New keys are mostly the newest (a run dated before them is rare): placing one is a push.
    if (keys.length === 0 || key > keys[keys.length - 1]!) keys.push(key);
    else keys.splice(lowerBound(keys, key), 0, key);
  }

  /** Files rows 0 … `count` - 1 by `timeOf` (a whole table: its keys come in no order, and are sorted once). */
  fileEvery(count: number, timeOf: (row: number) => number): void {
    for (let row = 0; row < count; row++) if (this.fileUnder(row, timeOf(row))) this.keys.push(bucketOf(timeOf(row)));
    this.keys.sort((x, y) => x - y);
  }

  /** Files `row` under its bucket; whether that bucket is new (its key is then to be placed). */
  private fileUnder(row: number, micros: number): boolean {
    if (!Number.isFinite(micros)) return false;
    const key = bucketOf(micros);
    const rows = this.buckets.get(key);
    if (rows) {
      rows.push(row);
      return false;
    }
    this.buckets.set(key, [row]);
    return true;
  }


  /**
   * The latest time now (`timeOf`) of the rows filed, or -Infinity when none has one: every
   * row is filed under its time's bucket, so it is in the newest bucket that holds a row
   * whose time lies in it.
   */
  newest(timeOf: (row: number) => number): number {
    const keys = this.keys;
    for (let at = keys.length - 1; at >= 0; at--) {
      const key = keys[at]!;
      const [from, to] = [key * BUCKET_MICROS, (key + 1) * BUCKET_MICROS];
      let newest = Number.NEGATIVE_INFINITY;
      for (const row of this.buckets.get(key)!) {
        const time = timeOf(row);
        if (time >= from && time < to && time > newest) newest = time;
      }
      if (newest > Number.NEGATIVE_INFINITY) return newest;
    }
    return Number.NEGATIVE_INFINITY;
  }

  /** Adds to `into` every row whose time now (`timeOf`) is finite and at or after `from`. */
  rowsFrom(from: number, timeOf: (row: number) => number, into: Set<number>): void {
    const keys = this.keys;
    for (let at = lowerBound(keys, bucketOf(from)); at < keys.length; at++) {
      for (const row of this.buckets.get(keys[at]!)!) {
        const time = timeOf(row);
        if (time >= from && time < Number.POSITIVE_INFINITY) into.add(row);
      }
    }
  }

  /** Adds to `into` every row whose time now (`timeOf`) lies in [from, to). */
  rowsIn(from: number, to: number, timeOf: (row: number) => number, into: Set<number>): void {
    if (!(from < to)) return;
    const [first, last] = [bucketOf(from), bucketOf(to)];
    const take = (rows: readonly number[]) => {
      for (const row of rows) {
        const time = timeOf(row);
        if (time >= from && time < to) into.add(row);
      }
    };
    // A long range (the clock jumped) reads the buckets there are rather than every key in it.
    if (last - first > this.buckets.size) {
      for (const [key, rows] of this.buckets) if (key >= first && key <= last) take(rows);
      return;
    }
    for (let key = first; key <= last; key++) {
      const rows = this.buckets.get(key);
      if (rows) take(rows);
    }
  }
}
