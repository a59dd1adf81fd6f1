/**
 * Executions per script and start tier: the dashboard's summary and tasks and the
 * executions' task performance (counts, and the exact average duration) all read it.
 * A window is the sum of its tiers, added up once per script instead of once per row.
 */
import { DurationTable, SignedDurationTable } from '../../lib/pg-numeric.js';
import { type ExecutionBatch, type Fold, StatusKind } from '../rows.js';

export interface ScriptCounts {
  total: number;
  finished: number;
  failed: number;
  cancelled: number;
  /** Executions with both dates, for task performance. */
  timed: number;
  timedFinished: number;
  /** PostgreSQL's exact average duration in minutes of the timed executions (numeric text). */
  timedAvgMinutes: string | null;
}

/** What the fold kept: per script, the sum of the tiers up to a window's last one. */
export interface ScriptTotals {
  /**
   * Each script index (-1: NULL script) with executions in tiers 0 … `lastTier`, with
   * their counts; scripts without any are left out.
   */
  through(lastTier: number): Array<{ readonly script: number; readonly counts: ScriptCounts }>;
}

const COUNTERS = 6;
// FINISHED, FAILED and CANCELLED sit at their StatusKind.
const [TOTAL, FINISHED, FAILED, CANCELLED, TIMED, TIMED_FINISHED] = [0, StatusKind.Finished, StatusKind.Failed, StatusKind.Cancelled, 4, 5] as const;

export class ScriptTierFold implements Fold<ScriptTotals> {
  /** COUNTERS per (script + 1, tier) cell; script -1 (NULL) is slot 0 (int32: the pass stops before 2^31 rows). */
  private counts: Int32Array;
  private durations: DurationTable;

  constructor(
    private readonly tiers: number,
    /** How many script indexes the pass has handed out, read at result time. */
    private readonly scriptsSeen: () => number,
    private readonly withDurations: boolean,
    /** Whether rows may be taken out (batches of weight -1). */
    private readonly signed = false,
  ) {
    this.counts = new Int32Array(COUNTERS * tiers * 1024);
    this.durations = signed ? new SignedDurationTable(1024) : new DurationTable(1024);
  }

  add(batch: ExecutionBatch): void {
    const { size, script, startTier, kind, start, end, weight } = batch;
    const tiers = this.tiers;
    for (let row = 0; row < size; row++) {
      const cell = (script[row]! + 1) * tiers + startTier[row]!;
      if ((cell + 1) * COUNTERS > this.counts.length) this.grow(cell);
      const at = cell * COUNTERS;
      const counts = this.counts;
      counts[at + TOTAL]! += weight;
      const rowKind = kind[row]!;
      if (rowKind !== StatusKind.Other) counts[at + rowKind]! += weight; // FINISHED, FAILED, CANCELLED are counters 1, 2, 3
      const from = start[row]!;
      const to = end[row]!;
      if (!this.withDurations || from !== from || to !== to) continue; // NaN: a date is NULL
      counts[at + TIMED]! += weight;
      if (rowKind === StatusKind.Finished) counts[at + TIMED_FINISHED]! += weight;
      const startExact = batch.startExact[row]!;
      const endExact = batch.endExact[row]!;
      if (startExact === null && endExact === null) {
        const micros = to - from;
        if (micros !== micros || !Number.isFinite(micros)) throw new Error('cannot subtract infinite timestamps (execution.end_date - start_date)');
        if (weight > 0) this.durations.add(cell, micros);
        else this.durations.remove(cell, micros);
      } else {
        this.durations.addExact(cell, (endExact ?? BigInt(to)) - (startExact ?? BigInt(from)), weight);
      }
    }
  }

  private grow(cell: number): void {
    let size = this.counts.length * 2;
    while ((cell + 1) * COUNTERS > size) size *= 2;
    const grown = new Int32Array(size);
    grown.set(this.counts);
    this.counts = grown;
  }

  /** A copy of what the fold holds now, for a result that later batches must not change. */
  snapshot(): ScriptTierFold {
    const copy = new ScriptTierFold(this.tiers, this.scriptsSeen, this.withDurations, this.signed);
    copy.counts = this.counts.slice();
    copy.durations = this.durations.clone();
    return copy;
  }

  result(): ScriptTotals {
    return {
      through: (lastTier) => {
        const totals: Array<{ script: number; counts: ScriptCounts }> = [];
        for (let script = -1; script < this.scriptsSeen(); script++) {
          const counts = this.sumTiers(script, lastTier);
          if (counts) totals.push({ script, counts });
        }
        return totals;
      },
    };
  }

  private sumTiers(script: number, lastTier: number): ScriptCounts | null {
    const sums = new Float64Array(COUNTERS);
    const cells: number[] = [];
    for (let tier = 0; tier <= lastTier; tier++) {
      const cell = (script + 1) * this.tiers + tier;
      const at = cell * COUNTERS;
      if (at >= this.counts.length) break;
      for (let counter = 0; counter < COUNTERS; counter++) sums[counter]! += this.counts[at + counter]!;
      cells.push(cell);
    }
    if (sums[TOTAL] === 0) return null;
    return {
      total: sums[TOTAL]!,
      finished: sums[FINISHED]!,
      failed: sums[FAILED]!,
      cancelled: sums[CANCELLED]!,
      timed: sums[TIMED]!,
      timedFinished: sums[TIMED_FINISHED]!,
      timedAvgMinutes: sums[TIMED]! > 0 ? this.durations.total(cells).averageText : null,
    };
  }
}
