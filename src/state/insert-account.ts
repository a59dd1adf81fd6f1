/**
 * Whether every row a table's insert counter (pg_stat n_tup_ins) says was inserted has been
 * read. The indexed reads find rows by date; a row inserted with an old date (a backfill) or
 * none is found by no watermark, and only the counter tells of it. The counter lags the rows
 * (a backend flushes it up to 10 s after a commit, up to 60 s under contention), so a counter
 * ahead of the rows read proves nothing alone: it asks for a count of the table in the
 * snapshot of a read (table-reads.ts), which settles it exactly, at most once a COUNT_INTERVAL_MS.
 */

/** Counts the table at most this often: a backfill is found within it (plus the counter's lag). */
export const COUNT_INTERVAL_MS = 60_000;

export type AccountVerdict = 'ok' | 'count' | 'counter-reset';

export class InsertAccount {
  /** Rows the reads found new since `base` was read. */
  private found = 0;
  private lastCountAt = Number.NEGATIVE_INFINITY;

  /** `base`: the counter before the load (null: not readable, nothing is checked). */
  constructor(private base: bigint | null) {}

  /** Rows a read found that the state did not hold. */
  add(rows: number): void {
    this.found += rows;
  }

  /** Judges the counter a probe read before the latest read (every row it counts was visible to that read). */
  judge(counter: string | null, now: number): AccountVerdict {
    if (this.base === null || counter === null) return 'ok';
    const value = BigInt(counter);
    if (value < this.base) return 'counter-reset';
    if (value - this.base <= BigInt(this.found)) return 'ok';
    return now >= this.lastCountAt + COUNT_INTERVAL_MS ? 'count' : 'ok';
  }

  /** A count in a read's snapshot matched the rows held: the counter as of `counter` is explained. */
  settled(counter: string | null, now: number): void {
    this.base = counter === null ? null : BigInt(counter);
    this.found = 0;
    this.lastCountAt = now;
  }
}

/** A counter as a bigint, or null when it was not readable. */
export function counterOf(text: string | null): bigint | null {
  return text === null ? null : BigInt(text);
}
