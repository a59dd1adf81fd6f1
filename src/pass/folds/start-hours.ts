/**
 * Executions per hour of start_date and start tier, from the earliest trend window on:
 * hourly, daily and monthly series roll up from these hours, and the tier says which
 * windows an hour's executions fall in.
 */
import { floorDiv, MICROS_PER_MINUTE } from '../../lib/micros.js';
import type { ExecutionBatch, Fold } from '../rows.js';

const MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE;

export interface HourCount {
  /** The hour's first minute since 2000-01-01. */
  readonly hour: number;
  readonly count: number;
}

/** What the fold kept: per hour, the starts in tiers 0 … `lastTier`, ascending, hours without any left out. */
export interface StartHours {
  through(lastTier: number): HourCount[];
}

export class StartHourFold implements Fold<StartHours> {
  private readonly firstHour: number;
  /** Dense counts per (hour - firstHour, tier) up to the hour after `now`; later hours in `later`. */
  private dense: Int32Array;
  private readonly later = new Map<number, Float64Array>();

  constructor(
    private readonly tiers: number,
    /** Starts before this (µs) are outside every window. */
    private windowStart: number,
    nowMicros: number,
  ) {
    this.firstHour = floorDiv(windowStart, MICROS_PER_HOUR);
    const hours = floorDiv(nowMicros, MICROS_PER_HOUR) - this.firstHour + 2;
    this.dense = new Int32Array(Math.max(hours, 1) * tiers);
  }

  add(batch: ExecutionBatch): void {
    const { size, start, startTier, weight } = batch;
    const { tiers, dense, windowStart, firstHour } = this;
    for (let row = 0; row < size; row++) {
      const at = start[row]!;
      if (!(at >= windowStart) || at === Number.POSITIVE_INFINITY) continue;
      const hour = floorDiv(at, MICROS_PER_HOUR) - firstHour;
      const cell = hour * tiers + startTier[row]!;
      if (cell < dense.length) dense[cell]! += weight;
      else this.addLater(hour, startTier[row]!, weight);
    }
  }

  /** An hour after the dense range (a start after `now`: clock skew, or far future). */
  private addLater(hour: number, tier: number, weight: number): void {
    let counts = this.later.get(hour);
    if (!counts) {
      counts = new Float64Array(this.tiers);
      this.later.set(hour, counts);
    }
    counts[tier]! += weight;
  }

  /**
   * Moves the window on (a later `windowStart` and `now`; never back): the rows that leave it
   * must have been taken out before. The hours kept stay where they are; the dense range grows
   * to the hour after the new `now`, taking in the later hours it reaches.
   */
  moveTo(windowStart: number, nowMicros: number): void {
    if (windowStart < this.windowStart) throw new Error('the hour fold cannot move its window back');
    this.windowStart = windowStart;
    const hours = floorDiv(nowMicros, MICROS_PER_HOUR) - this.firstHour + 2;
    if (hours * this.tiers <= this.dense.length) return;
    const grown = new Int32Array(hours * this.tiers);
    grown.set(this.dense);
    this.dense = grown;
    for (const [hour, counts] of this.later) {
      if (hour >= hours) continue;
      for (let tier = 0; tier < this.tiers; tier++) grown[hour * this.tiers + tier]! += counts[tier]!;
      this.later.delete(hour);
    }
  }

  /** A copy of what the fold holds now, for a result that later batches must not change. */
  snapshot(): StartHourFold {
    const copy = new StartHourFold(this.tiers, this.windowStart, this.windowStart);
    Object.assign(copy, { firstHour: this.firstHour, dense: this.dense.slice() });
    this.later.forEach((counts, hour) => copy.later.set(hour, counts.slice()));
    return copy;
  }

  result(): StartHours {
    const { dense, tiers, later, firstHour } = this;
    return {
      through(lastTier) {
        const hours: HourCount[] = [];
        const emit = (hour: number, tierCounts: ArrayLike<number>, at: number) => {
          let count = 0;
          for (let tier = 0; tier <= lastTier; tier++) count += tierCounts[at + tier]!;
          if (count > 0) hours.push({ hour: (firstHour + hour) * 60, count });
        };
        for (let hour = 0; hour < dense.length / tiers; hour++) emit(hour, dense, hour * tiers);
        for (const hour of [...later.keys()].sort((a, b) => a - b)) emit(hour, later.get(hour)!, 0);
        return hours;
      },
    };
  }
}
