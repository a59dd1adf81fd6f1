/**
 * The executions' time series for every requested (period, granularity), from one fold.
 * An execution's event time is its end for finished, failed and cancelled ones, else its
 * start; time is cut into tiers at the requested periods' cutoffs, each tier bucketed as
 * finely as the series that include it need (see seriesTiers), and the series roll up
 * from those buckets. Executions are grouped by script class (task name and which
 * `task_type` filters match), not by script, to keep the cells few.
 */
import { type BucketFunction, bucketFunction, minuteOf } from '../../lib/micros.js';
import type { SeriesTier } from '../plan.js';
import { type ExecutionRow, type Fold, StatusKind, type StatusKinds } from '../rows.js';

/** Scripts that count alike in the time series: same task name, same filters matching. */
export interface ScriptClass {
  readonly task: string;
  /** Index 0 (no filter) is always true; index f + 1 for plan.taskTypes[f]. */
  readonly matches: readonly boolean[];
}

export interface TimelineRow {
  readonly tier: number;
  /** The bucket's first minute since 2000-01-01, or null for executions without a timestamp. */
  readonly bucket: number | null;
  readonly status: string | null;
  readonly scriptClass: ScriptClass;
  readonly count: number;
}

/** Counts per (status, class) of one bucket; `cells[status * classes + class]`. */
interface Bucket {
  /** First minute (since 2000-01-01), or null for executions without a timestamp. */
  readonly start: number | null;
  cells: Float64Array;
}

/**
 * Bucket starts step by at least this many minutes (from this offset): the key of a bucket,
 * start - offset over the step, is a small integer, and keys of a tier are nearly dense.
 */
const KEY_STEP: Readonly<Record<SeriesTier['bucket'], readonly [step: number, offset: number]>> = {
  quarter_hour: [15, 0],
  hour: [60, 0],
  day: [1440, 0],
  week: [10_080, 2 * 1440], // weeks start on Mondays, the first on 2000-01-03
  month: [1440, 0],
  week_month: [1440, 0],
};

/** Bucket index by key, in a typed array that grows either way: a lookup per row, no hashing. */
class DenseIndex {
  private base = 0;
  private slots = new Int32Array(0);

  /** The slot for `key`, or -1. */
  get(key: number): number {
    const at = key - this.base;
    return at >= 0 && at < this.slots.length ? this.slots[at]! - 1 : -1;
  }

  set(key: number, slot: number): void {
    if (this.slots.length === 0) this.base = key;
    let at = key - this.base;
    if (at < 0 || at >= this.slots.length) {
      const low = Math.min(this.base, key);
      const high = Math.max(this.base + this.slots.length, key + 1);
      const grown = new Int32Array(Math.max(high - low, 2 * this.slots.length));
      grown.set(this.slots, this.base - low);
      this.slots = grown;
      this.base = low;
      at = key - low;
    }
    this.slots[at] = slot + 1;
  }
}

export class TimelineFold implements Fold<TimelineRow[]> {
  /** Per tier: its buckets, their index by key, and the bucket of executions without a timestamp. */
  private readonly buckets: Bucket[][];
  private readonly indexes: DenseIndex[];
  private readonly undated: Array<Bucket | null>;
  /** Each tier's lower bound (µs; -Infinity for none), bucket function and key step, for the per-row loop. */
  private readonly froms: Float64Array;
  private readonly bucketOf: BucketFunction[];
  private readonly steps: Array<readonly [number, number]>;
  private statusCapacity = 8;

  constructor(
    tiers: readonly SeriesTier[],
    private readonly kinds: StatusKinds,
    /** Class index by script index (-1: no script, or not in `script`: left out, as the API's join does). */
    private readonly classOf: (script: number) => number,
    private readonly classes: readonly ScriptClass[],
    private readonly statusName: (status: number) => string | null,
  ) {
    this.buckets = tiers.map(() => []);
    this.indexes = tiers.map(() => new DenseIndex());
    this.undated = tiers.map(() => null);
    this.froms = Float64Array.from(tiers, (tier) => tier.from ?? Number.NEGATIVE_INFINITY);
    this.bucketOf = tiers.map((tier) => bucketFunction(tier.bucket));
    this.steps = tiers.map((tier) => KEY_STEP[tier.bucket]);
  }

  add(row: ExecutionRow): void {
    if (row.script < 0) return;
    const scriptClass = this.classOf(row.script);
    if (scriptClass < 0) return;
    const kind = this.kinds.kindOf(row.status);
    const useEnd = kind !== StatusKind.Other && row.end === row.end;
    const event = useEnd ? row.end : row.start;
    const froms = this.froms;
    let tier = 0;
    // NaN (a NULL event time) passes only a tier without lower bound.
    while (tier < froms.length && !(event >= froms[tier]!) && froms[tier] !== Number.NEGATIVE_INFINITY) tier++;
    if (tier === froms.length) return; // before every requested period
    const bucket = event !== event ? this.undatedBucket(tier) : this.bucketAt(tier, event, useEnd ? row.endExact : row.startExact);
    const cell = row.status * this.classes.length + scriptClass;
    if (cell >= bucket.cells.length) this.growStatuses(row.status);
    bucket.cells[cell]!++;
  }

  private bucketAt(tier: number, event: number, exact: bigint | null): Bucket {
    if (!Number.isFinite(event)) throw new Error('an execution has an infinite timestamp; its time bucket has no date');
    const start = this.bucketOf[tier]!(minuteOf(exact ?? event));
    const [step, offset] = this.steps[tier]!;
    const key = (start - offset) / step;
    const index = this.indexes[tier]!;
    const slot = index.get(key);
    if (slot >= 0) return this.buckets[tier]![slot]!;
    const bucket = this.newBucket(start);
    index.set(key, this.buckets[tier]!.push(bucket) - 1);
    return bucket;
  }

  private undatedBucket(tier: number): Bucket {
    let bucket = this.undated[tier];
    if (!bucket) {
      bucket = this.newBucket(null);
      this.undated[tier] = bucket;
    }
    return bucket;
  }

  private newBucket(start: number | null): Bucket {
    return { start, cells: new Float64Array(this.statusCapacity * this.classes.length) };
  }

  /** Makes room for more statuses in every bucket (a rare event: the API has six). */
  private growStatuses(status: number): void {
    while (status >= this.statusCapacity) this.statusCapacity *= 2;
    for (const bucket of this.allBuckets()) {
      const grown = new Float64Array(this.statusCapacity * this.classes.length);
      grown.set(bucket.cells);
      bucket.cells = grown;
    }
  }

  private *allBuckets(): Generator<Bucket> {
    for (const tier of this.buckets) yield* tier;
    for (const bucket of this.undated) if (bucket) yield bucket;
  }

  result(): TimelineRow[] {
    const rows: TimelineRow[] = [];
    const classCount = this.classes.length;
    this.buckets.forEach((buckets, tier) => {
      const undated = this.undated[tier];
      for (const { start, cells } of undated ? [...buckets, undated] : buckets) {
        for (let cell = 0; cell < cells.length; cell++) {
          const count = cells[cell]!;
          if (count === 0) continue;
          const status = Math.floor(cell / classCount);
          rows.push({ tier, bucket: start, status: this.statusName(status), scriptClass: this.classes[cell % classCount]!, count });
        }
      }
    });
    return rows;
  }
}
