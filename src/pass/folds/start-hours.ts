/**
 * Executions per hour of start_date and start tier, over the trends' longest window (365
 * days): hourly, daily and monthly series for every period roll up from these hours, and
 * the tier says which windows an hour's executions fall in.
 */
import { floorDiv, isoMinute, MICROS_PER_MINUTE } from '../../lib/micros.js';
import { type ExecutionRow, type Fold } from '../rows.js';

const MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE;

export interface HourRow {
  /** `YYYY-MM-DDTHH:00:00` */
  readonly hour: string;
  /** Count per window name (a period, `hourly` or `monthly`). */
  readonly counts: Map<string, number>;
}

export class StartHourFold implements Fold<HourRow[]> {
  private readonly firstHour: number;
  /** Dense counts per (hour - firstHour, tier) up to the hour after `now`; later hours in `later`. */
  private readonly dense: Float64Array;
  private readonly later = new Map<number, Float64Array>();

  constructor(
    private readonly tiers: number,
    /** Starts before this (µs) are outside every window. */
    private readonly windowStart: number,
    nowMicros: number,
    /** Each window with the last start tier it includes. */
    private readonly windows: ReadonlyMap<string, number>,
  ) {
    this.firstHour = floorDiv(windowStart, MICROS_PER_HOUR);
    const hours = floorDiv(nowMicros, MICROS_PER_HOUR) - this.firstHour + 2;
    this.dense = new Float64Array(hours * tiers);
  }

  add(row: ExecutionRow): void {
    if (!(row.start >= this.windowStart) || row.start === Number.POSITIVE_INFINITY) return;
    const hour = floorDiv(row.start, MICROS_PER_HOUR) - this.firstHour;
    const cell = hour * this.tiers + row.startTier;
    if (cell < this.dense.length) {
      this.dense[cell]!++;
      return;
    }
    let counts = this.later.get(hour);
    if (!counts) {
      counts = new Float64Array(this.tiers);
      this.later.set(hour, counts);
    }
    counts[row.startTier]!++;
  }

  result(): HourRow[] {
    const rows: HourRow[] = [];
    const emit = (hour: number, tierCounts: ArrayLike<number>) => {
      const counts = new Map<string, number>();
      let any = false;
      for (const [window, lastTier] of this.windows) {
        let n = 0;
        for (let tier = 0; tier <= lastTier; tier++) n += tierCounts[tier]!;
        counts.set(window, n);
        any ||= n > 0;
      }
      if (any) rows.push({ hour: isoMinute((this.firstHour + hour) * 60), counts });
    };
    const hours = this.dense.length / this.tiers;
    for (let hour = 0; hour < hours; hour++) emit(hour, this.dense.subarray(hour * this.tiers, (hour + 1) * this.tiers));
    for (const hour of [...this.later.keys()].sort((a, b) => a - b)) emit(hour, this.later.get(hour)!);
    return rows;
  }
}
