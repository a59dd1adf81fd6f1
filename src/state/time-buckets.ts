/**
 * Rows by time, coarsely: each row number is filed under the bucket of a time it had (about
 * 18 minutes wide), so the rows whose time lies in a short range (the instants a window's
 * edge passed since the last run) are found by reading a bucket or two, never the whole
 * table. A row whose time changes is filed again under its new bucket; the old entry stays
 * and is told apart by checking the row's time now, so filing costs a push, never a search.
 *
 * A whole table is filed at once into three typed arrays (the buckets' keys, where each
 * bucket starts, the row numbers bucket by bucket): 4 bytes a row, where an array per bucket
 * cost V8's heap about 19 (and its collector the time to walk 250,000 arrays). Rows filed one
 * by one afterwards (the few a change touches) go to small arrays beside them.
 */
import { lowerBound } from '../lib/sorted.js';

/** 2^30 µs: about 17.9 minutes. */
const BUCKET_MICROS = 2 ** 30;

const bucketOf = (micros: number) => Math.floor(micros / BUCKET_MICROS);

/** Buckets as keys ascending, where each one's rows start in `rows`, and the rows. */
interface PackedBuckets {
  readonly keys: Float64Array;
  /** keys.length + 1 offsets: bucket i holds rows[starts[i]] … rows[starts[i + 1] - 1]. */
  readonly starts: Int32Array;
  readonly rows: Int32Array;
}

const EMPTY: PackedBuckets = { keys: new Float64Array(0), starts: new Int32Array(1), rows: new Int32Array(0) };

/**
 * Files rows 0 … `count` - 1 by their time (non-finite ones left out), packed: counted per
 * bucket, then placed. Besides the result it holds a bucket number per row and the buckets'
 * numbering: an array over the keys' span when it is no wider than the rows (the usual case,
 * a few years of 18-minute buckets), else a Map of the distinct keys.
 */
function pack(count: number, timeOf: (row: number) => number): PackedBuckets {
  const keyOf = (row: number) => {
    const micros = timeOf(row);
    return Number.isFinite(micros) ? bucketOf(micros) : null;
  };
  let [least, most] = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (let row = 0; row < count; row++) {
    const key = keyOf(row);
    if (key === null) continue;
    if (key < least) least = key;
    if (key > most) most = key;
  }
  const bucketOfKey = most - least < 4 * count + 1024 ? denseNumbering(count, keyOf, least, most) : sparseNumbering(count, keyOf);
  const { keys } = bucketOfKey;
  const starts = new Int32Array(keys.length + 1);
  const bucketOfRow = new Int32Array(count);
  for (let row = 0; row < count; row++) {
    const key = keyOf(row);
    const bucket = key === null ? -1 : bucketOfKey.of(key);
    bucketOfRow[row] = bucket;
    if (bucket >= 0) starts[bucket + 1]!++;
  }
  for (let bucket = 0; bucket < keys.length; bucket++) starts[bucket + 1]! += starts[bucket]!;
  const next = starts.slice(0, keys.length);
  const rows = new Int32Array(starts[keys.length]!);
  for (let row = 0; row < count; row++) {
    const bucket = bucketOfRow[row]!;
    if (bucket >= 0) rows[next[bucket]!++] = row;
  }
  return { keys, starts, rows };
}

/** The distinct keys ascending, and each one's place among them. */
interface KeyNumbering {
  readonly keys: Float64Array;
  of(key: number): number;
}

/** Numbering through an array over [least, most]. */
function denseNumbering(count: number, keyOf: (row: number) => number | null, least: number, most: number): KeyNumbering {
  const place = new Int32Array(Number.isFinite(least) ? most - least + 1 : 0);
  for (let row = 0; row < count; row++) {
    const key = keyOf(row);
    if (key !== null) place[key - least] = 1;
  }
  const keys: number[] = [];
  for (let offset = 0; offset < place.length; offset++) {
    if (place[offset] === 0) continue;
    place[offset] = keys.length;
    keys.push(least + offset);
  }
  return { keys: Float64Array.from(keys), of: (key) => place[key - least]! };
}

/** Numbering through a Map of the distinct keys (a span too wide for an array: a date centuries away). */
function sparseNumbering(count: number, keyOf: (row: number) => number | null): KeyNumbering {
  const distinct = new Set<number>();
  for (let row = 0; row < count; row++) {
    const key = keyOf(row);
    if (key !== null) distinct.add(key);
  }
  const keys = Float64Array.from(distinct).sort();
  const place = new Map<number, number>();
  keys.forEach((key, index) => place.set(key, index));
  return { keys, of: (key) => place.get(key)! };
}

export class TimeBuckets {
  /** The rows filed at once (a whole table). */
  private packed: PackedBuckets = EMPTY;
  /** The rows filed one by one since, by bucket key. */
  private readonly later = new Map<number, number[]>();
  /** `later`'s keys, ascending. */
  private readonly laterKeys: number[] = [];

  /** Files `row` under the bucket of `micros` (NULL and infinite times are never in a range: not filed). */
  file(row: number, micros: number): void {
    if (!Number.isFinite(micros)) return;
    const key = bucketOf(micros);
    const rows = this.later.get(key);
    if (rows) {
      rows.push(row);
      return;
    }
    this.later.set(key, [row]);
    const keys = this.laterKeys;
    // New keys are mostly the newest (a run dated before them is rare): placing one is a push.
    if (keys.length === 0 || key > keys[keys.length - 1]!) keys.push(key);
    else keys.splice(lowerBound(keys, key), 0, key);
  }

  /** Files rows 0 … `count` - 1 by `timeOf`: a whole table, into buckets that hold none yet. */
  fileEvery(count: number, timeOf: (row: number) => number): void {
    if (this.packed.rows.length > 0 || this.later.size > 0) throw new Error('a whole table is filed into empty time buckets only');
    this.packed = pack(count, timeOf);
  }

  /** Calls `visit` with each row filed under a key from `fromKey` to `toKey` (a row filed twice, twice). */
  private visitFrom(fromKey: number, visit: (row: number) => void, toKey = Number.POSITIVE_INFINITY): void {
    const { keys, starts, rows } = this.packed;
    for (let at = lowerBound(keys, fromKey); at < keys.length && keys[at]! <= toKey; at++) {
      for (let entry = starts[at]!; entry < starts[at + 1]!; entry++) visit(rows[entry]!);
    }
    const laterKeys = this.laterKeys;
    for (let at = lowerBound(laterKeys, fromKey); at < laterKeys.length && laterKeys[at]! <= toKey; at++) {
      for (const row of this.later.get(laterKeys[at]!)!) visit(row);
    }
  }

  /**
   * The latest time now (`timeOf`) of the rows filed, or -Infinity when none has one: every
   * row is filed under its time's bucket, so it is in the newest bucket that holds a row
   * whose time lies in it.
   */
  newest(timeOf: (row: number) => number): number {
    const { keys } = this.packed;
    const laterKeys = this.laterKeys;
    // Both key lists from their newest down, as one: each key once, the newest first.
    let [packedAt, laterAt] = [keys.length - 1, laterKeys.length - 1];
    while (packedAt >= 0 || laterAt >= 0) {
      const key = Math.max(packedAt >= 0 ? keys[packedAt]! : Number.NEGATIVE_INFINITY, laterAt >= 0 ? laterKeys[laterAt]! : Number.NEGATIVE_INFINITY);
      const [from, to] = [key * BUCKET_MICROS, (key + 1) * BUCKET_MICROS];
      let newest = Number.NEGATIVE_INFINITY;
      this.visitFrom(key, (row) => {
        const time = timeOf(row);
        if (time >= from && time < to && time > newest) newest = time;
      }, key);
      if (newest > Number.NEGATIVE_INFINITY) return newest;
      if (packedAt >= 0 && keys[packedAt] === key) packedAt--;
      if (laterAt >= 0 && laterKeys[laterAt] === key) laterAt--;
    }
    return Number.NEGATIVE_INFINITY;
  }

  /** Adds to `into` every row whose time now (`timeOf`) is finite and at or after `from`. */
  rowsFrom(from: number, timeOf: (row: number) => number, into: Set<number>): void {
    this.visitFrom(bucketOf(from), (row) => {
      const time = timeOf(row);
      if (time >= from && time < Number.POSITIVE_INFINITY) into.add(row);
    });
  }

  /** Adds to `into` every row whose time now (`timeOf`) lies in [from, to). */
  rowsIn(from: number, to: number, timeOf: (row: number) => number, into: Set<number>): void {
    if (!(from < to)) return;
    this.visitFrom(
      bucketOf(from),
      (row) => {
        const time = timeOf(row);
        if (time >= from && time < to) into.add(row);
      },
      bucketOf(to),
    );
  }
}
