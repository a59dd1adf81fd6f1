/**
 * The executions' time series for every requested (period, granularity), from one fold.
 * An execution's event time is its end for finished, failed and cancelled ones, else its
 * start; time is cut into tiers at the requested periods' cutoffs, each tier bucketed as
 * finely as the series that include it need (see seriesTiers), and the series roll up
 * from those buckets. Executions are grouped by script class (task name and which
 * `task_type` filters match), not by script, to keep the cells few.
 */
import { type BucketFunction, bucketFunction, floorDiv, MICROS_PER_MINUTE, minuteOf } from '../../lib/micros.js';
import type { SeriesTier } from '../plan.js';
import { type ExecutionBatch, type Fold, StatusKind } from '../rows.js';

/** Scripts that count alike in the time series: same task name, same filters matching. */
export interface ScriptClass {
  readonly task: string;
  /** Index 0 (no filter) is always true; index f + 1 for plan.taskTypes[f]. */
  readonly matches: readonly boolean[];
}

/** What the fold kept: counts per bucket of a tier (a slot), status and script class. */
export interface Timeline {
  /** Per slot: its tier, and its bucket's first minute since 2000-01-01 (null: executions without a timestamp). */
  readonly slotTier: readonly number[];
  readonly slotStart: ReadonlyArray<number | null>;
  /** Status names by index (index 0 is NULL). */
  readonly statuses: ReadonlyArray<string | null>;
  readonly classes: readonly ScriptClass[];
  /** The count of (slot, status, class), at `(slot × statusCapacity + status) × classes.length + class`. */
  readonly counts: Int32Array;
  readonly statusCapacity: number;
}

/**
 * A tier's rows are found by a key, (minute - offset) / step, that never straddles two of its
 * buckets: each bucket is a whole number of steps. The key of a minute is a division; only a
 * key not met before costs the bucket's calendar arithmetic.
 */
const KEY_STEP: Readonly<Record<SeriesTier['bucket'], readonly [step: number, offset: number]>> = {
  quarter_hour: [15, 0],
  hour: [60, 0],
  day: [1440, 0],
  week: [10_080, 2 * 1440], // weeks start on Mondays, the first on 2000-01-03
  month: [1440, 0],
  week_month: [1440, 0],
};

/** Keys a DenseIndex spans at most (4 MiB); keys beyond (a timestamp centuries away) go to a map. */
const DENSE_SPAN = 1 << 20;

/** Bucket slot by key, in a typed array that grows either way: a lookup per row, no hashing. */
class DenseIndex {
  private base = 0;
  private slots = new Int32Array(0);
  private readonly sparse = new Map<number, number>();

  /** The slot for `key`, or -1. */
  get(key: number): number {
    const at = key - this.base;
    if (at >= 0 && at < this.slots.length) return this.slots[at]! - 1;
    return this.sparse.size === 0 ? -1 : (this.sparse.get(key) ?? -1);
  }

  set(key: number, slot: number): void {
    if (this.slots.length === 0) this.base = key;
    let at = key - this.base;
    if (at < 0 || at >= this.slots.length) {
      const low = Math.min(this.base, key);
      const high = Math.max(this.base + this.slots.length, key + 1);
      if (high - low > DENSE_SPAN) {
        this.sparse.set(key, slot);
        return;
      }
      const grown = new Int32Array(Math.min(Math.max(high - low, 2 * this.slots.length), DENSE_SPAN));
      grown.set(this.slots, this.base - low);
      this.slots = grown;
      this.base = low;
      at = key - low;
    }
    this.slots[at] = slot + 1;
  }
}

export class TimelineFold implements Fold<Timeline> {
  /** Each tier's lower bound (µs; -Infinity for none), bucket function, key step and offset. */
  private froms: Float64Array;
  private readonly bucketOf: BucketFunction[];
  private readonly steps: Float64Array;
  private readonly offsets: Float64Array;
  /** Per tier: slots by key, slots by bucket start, and the slot of executions without a timestamp (-1: none yet). */
  private readonly indexes: DenseIndex[];
  private readonly slotOfStart: Array<Map<number, number>>;
  private readonly undated: Int32Array;
  /** Per slot: its tier and its bucket's first minute (null: no timestamp). */
  private readonly slotTier: number[] = [];
  private readonly slotStart: Array<number | null> = [];
  /** Counts per (slot, status, class): `counts[(slot * statusCapacity + status) * classes + class]` (int32: the pass stops before 2^31 rows). */
  private counts: Int32Array;
  private statusCapacity = 8;

  constructor(
    tiers: readonly SeriesTier[],
    /** Class index by script index; scripts beyond it (not in `script`) are left out, as the API's join does. */
    private readonly classOfScript: Int32Array,
    private readonly classes: readonly ScriptClass[],
    /** The status names by index, as the pass learnt them. */
    private readonly statusNames: () => ReadonlyArray<string | null>,
  ) {
    this.froms = Float64Array.from(tiers, (tier) => tier.from ?? Number.NEGATIVE_INFINITY);
    this.bucketOf = tiers.map((tier) => bucketFunction(tier.bucket));
    this.steps = Float64Array.from(tiers, (tier) => KEY_STEP[tier.bucket][0]);
    this.offsets = Float64Array.from(tiers, (tier) => KEY_STEP[tier.bucket][1]);
    this.indexes = tiers.map(() => new DenseIndex());
    this.slotOfStart = tiers.map(() => new Map());
    this.undated = new Int32Array(tiers.length).fill(-1);
    this.counts = new Int32Array(64 * this.statusCapacity * classes.length);
  }

  add(batch: ExecutionBatch): void {
    const { size, script, kind, status, start, end, startExact, endExact, weight } = batch;
    const { froms, classOfScript } = this;
    const classCount = this.classes.length;
    for (let row = 0; row < size; row++) {
      const rowScript = script[row]!;
      if (rowScript < 0 || rowScript >= classOfScript.length) continue;
      const scriptClass = classOfScript[rowScript]!;
      const rowEnd = end[row]!;
      const useEnd = kind[row] !== StatusKind.Other && rowEnd === rowEnd;
      const event = useEnd ? rowEnd : start[row]!;
      let tier = 0;
      // NaN (a NULL event time) passes only a tier without lower bound.
      while (tier < froms.length && !(event >= froms[tier]!) && froms[tier] !== Number.NEGATIVE_INFINITY) tier++;
      if (tier === froms.length) continue; // before every requested period
      const slot = event !== event ? this.undatedSlot(tier) : this.slotAt(tier, event, useEnd ? endExact[row]! : startExact[row]!);
      const rowStatus = status[row]!;
      if (rowStatus >= this.statusCapacity) this.growStatuses(rowStatus);
      this.counts[(slot * this.statusCapacity + rowStatus) * classCount + scriptClass]! += weight;
    }
  }

  private slotAt(tier: number, event: number, exact: bigint | null): number {
    if (!Number.isFinite(event)) throw new Error('an execution has an infinite timestamp; its time bucket has no date');
    const minute = exact === null ? floorDiv(event, MICROS_PER_MINUTE) : minuteOf(exact);
    const key = floorDiv(minute - this.offsets[tier]!, this.steps[tier]!);
    const slot = this.indexes[tier]!.get(key);
    return slot >= 0 ? slot : this.newKey(tier, key, minute);
  }

  /** The slot of a key met for the first time: its bucket's, made when new. */
  private newKey(tier: number, key: number, minute: number): number {
    const bucketStart = this.bucketOf[tier]!(minute);
    let slot = this.slotOfStart[tier]!.get(bucketStart);
    if (slot === undefined) {
      slot = this.newSlot(tier, bucketStart);
      this.slotOfStart[tier]!.set(bucketStart, slot);
    }
    this.indexes[tier]!.set(key, slot);
    return slot;
  }

  private undatedSlot(tier: number): number {
    if (this.undated[tier]! < 0) this.undated[tier] = this.newSlot(tier, null);
    return this.undated[tier]!;
  }

  private newSlot(tier: number, bucketStart: number | null): number {
    const slot = this.slotTier.length;
    this.slotTier.push(tier);
    this.slotStart.push(bucketStart);
    const needed = (slot + 1) * this.statusCapacity * this.classes.length;
    if (needed > this.counts.length) {
      const grown = new Int32Array(Math.max(needed, 2 * this.counts.length));
      grown.set(this.counts);
      this.counts = grown;
    }
    return slot;
  }

  /** Makes room for more statuses in every slot (a rare event: the API has six). */
  private growStatuses(status: number): void {
    const classCount = this.classes.length;
    const before = this.statusCapacity;
    while (status >= this.statusCapacity) this.statusCapacity *= 2;
    const grown = new Int32Array(Math.max(this.slotTier.length, 64) * this.statusCapacity * classCount);
    for (let slot = 0; slot < this.slotTier.length; slot++) {
      grown.set(this.counts.subarray(slot * before * classCount, (slot + 1) * before * classCount), slot * this.statusCapacity * classCount);
    }
    this.counts = grown;
  }

  /**
   * Moves the tiers' lower bounds on (the same tiers and buckets, each bound later or equal):
   * the rows whose event time crosses a bound must have been taken out before, and are added
   * again after. Buckets are absolute, so the slots stay.
   */
  moveTo(tiers: readonly SeriesTier[]): void {
    const froms = Float64Array.from(tiers, (tier) => tier.from ?? Number.NEGATIVE_INFINITY);
    if (froms.length !== this.froms.length || froms.some((from, tier) => from < this.froms[tier]!)) {
      throw new Error('the time series tiers can only move on, as they are');
    }
    this.froms = froms;
  }

  /** A result that later batches leave as it is. */
  snapshot(): Timeline {
    const { statusCapacity, classes } = this;
    return {
      slotTier: [...this.slotTier],
      slotStart: [...this.slotStart],
      statuses: this.statusNames().slice(0, statusCapacity),
      classes,
      counts: this.counts.slice(0, this.slotTier.length * statusCapacity * classes.length),
      statusCapacity,
    };
  }

  result(): Timeline {
    const { counts, statusCapacity, slotTier, slotStart, classes } = this;
    // Statuses past the capacity were never counted (the counts grow with them).
    return { slotTier, slotStart, statuses: this.statusNames().slice(0, statusCapacity), classes, counts, statusCapacity };
  }
}
