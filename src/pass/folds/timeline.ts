/**
 * The executions' time series for every requested (period, granularity), from one fold.
 * An execution's event time is its end for finished, failed and cancelled ones, else its
 * start; time is cut into tiers at the requested periods' cutoffs, each tier bucketed as
 * finely as the series that include it need (see seriesTiers), and the series roll up
 * from those buckets. Executions are grouped by script class (task name and which
 * `task_type` filters match), not by script, to keep the cells few.
 */
import { type BucketFunction, bucketFunction, minuteOf } from '../../lib/micros.js';
import type { SeriesTier } from '../../plan.js';
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
  cells: Float64Array;
}

/** Buckets are keyed by their start in quarter-hours (every bucket starts on one): small integers. */
const QUARTER = 15;
const NULL_BUCKET = Number.MIN_SAFE_INTEGER;

export class TimelineFold implements Fold<TimelineRow[]> {
  private readonly buckets: Array<Map<number, Bucket>>;
  /** Each tier's lower bound (µs; -Infinity for none) and bucket function, for the per-row loop. */
  private readonly froms: Float64Array;
  private readonly bucketOf: BucketFunction[];
  private statusCapacity = 8;
  private lastTier = -1;
  private lastKey = 0;
  private lastBucket: Bucket | null = null;

  constructor(
    tiers: readonly SeriesTier[],
    private readonly kinds: StatusKinds,
    /** Class index by script index (-1: no script, or not in `script`: left out, as the API's join does). */
    private readonly classOf: (script: number) => number,
    private readonly classes: readonly ScriptClass[],
    private readonly statusName: (status: number) => string | null,
  ) {
    this.buckets = tiers.map(() => new Map());
    this.froms = Float64Array.from(tiers, (tier) => tier.from ?? Number.NEGATIVE_INFINITY);
    this.bucketOf = tiers.map((tier) => bucketFunction(tier.bucket));
  }

  add(row: ExecutionRow): void {
    if (row.script < 0) return;
    const scriptClass = this.classOf(row.script);
    if (scriptClass < 0) return;
    const kind = this.kinds.known(row.status);
    const useEnd = kind !== StatusKind.Other && row.end === row.end;
    const event = useEnd ? row.end : row.start;
    const exact = useEnd ? row.endExact : row.startExact;
    const froms = this.froms;
    let tier = 0;
    // NaN (a NULL event time) passes only a tier without lower bound.
    while (tier < froms.length && !(event >= froms[tier]!) && froms[tier] !== Number.NEGATIVE_INFINITY) tier++;
    if (tier === froms.length) return; // before every requested period
    let key: number;
    if (event !== event) {
      key = NULL_BUCKET;
    } else {
      if (!Number.isFinite(event)) throw new Error('an execution has an infinite timestamp; its time bucket has no date');
      // An int32 key stays a small integer: no number is boxed per row.
      key = (this.bucketOf[tier]!(minuteOf(exact ?? event)) / QUARTER) | 0;
    }
    let bucket: Bucket | undefined;
    if (tier === this.lastTier && key === this.lastKey && this.lastBucket) {
      bucket = this.lastBucket;
    } else {
      const map = this.buckets[tier]!;
      bucket = map.get(key);
      if (!bucket) {
        bucket = { cells: new Float64Array(this.statusCapacity * this.classes.length) };
        map.set(key, bucket);
      }
      this.lastTier = tier;
      this.lastKey = key;
      this.lastBucket = bucket;
    }
    const cell = row.status * this.classes.length + scriptClass;
    if (cell >= bucket.cells.length) this.growStatuses(row.status);
    bucket.cells[cell]!++;
  }

  /** Makes room for more statuses in every bucket (a rare event: the API has six). */
  private growStatuses(status: number): void {
    while (status >= this.statusCapacity) this.statusCapacity *= 2;
    for (const map of this.buckets) {
      for (const bucket of map.values()) {
        const grown = new Float64Array(this.statusCapacity * this.classes.length);
        grown.set(bucket.cells);
        bucket.cells = grown;
      }
    }
  }

  result(): TimelineRow[] {
    const rows: TimelineRow[] = [];
    const classCount = this.classes.length;
    this.buckets.forEach((map, tier) => {
      for (const [key, { cells }] of map) {
        const bucket = key === NULL_BUCKET ? null : key * QUARTER;
        for (let cell = 0; cell < cells.length; cell++) {
          const count = cells[cell]!;
          if (count === 0) continue;
          const status = Math.floor(cell / classCount);
          rows.push({ tier, bucket, status: this.statusName(status), scriptClass: this.classes[cell % classCount]!, count });
        }
      }
    });
    return rows;
  }
}
