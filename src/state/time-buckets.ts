/**
 * Rows by time, coarsely: each row number is filed under the bucket of a time it had (about
 * 18 minutes wide), so the rows whose time lies in a short range (the instants a window's
 * edge passed since the last run) are found by reading a bucket or two, never the whole
 * table. A row whose time changes is filed again under its new bucket; the old entry stays
 * and is told apart by checking the row's time now, so filing costs a push, never a search.
 */

/** 2^30 µs: about 17.9 minutes. */
const BUCKET_MICROS = 2 ** 30;

const bucketOf = (micros: number) => Math.floor(micros / BUCKET_MICROS);

export class TimeBuckets {
  private readonly buckets = new Map<number, number[]>();

  /** Files `row` under the bucket of `micros` (NULL and infinite times are never in a range: not filed). */
  file(row: number, micros: number): void {
    if (!Number.isFinite(micros)) return;
    const key = bucketOf(micros);
    const rows = this.buckets.get(key);
    if (rows) rows.push(row);
    else this.buckets.set(key, [row]);
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
