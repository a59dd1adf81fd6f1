/**
 * schedule's PostgreSQL budget (change mode): a token bucket of database seconds. The runs'
 * statements' wall time is charged to it (the probes' is not: change-loop.ts); it refills at
 * budget/3600 per second. A run the data's changes ask for starts only while the bucket
 * holds what such a run last cost (with rows in memory: one that read only what changed);
 * otherwise it waits (never skipped): runs for time and self-healing are charged but not held.
 *
 * The default budget is what the default cron schedules would spend on the same data:
 * their family runs an hour times the database time of this process's last run that read
 * the tables whole, estimated again after each one. Before the first full run nothing is known and nothing
 * is held.
 */

/**
 * The bucket holds this many runs' worth: a change, the run a change during it asks for and
 * one more pass without waiting, while over an hour the spending stays within the budget.
 */
export const BUCKET_RUNS = 3;

export interface DbBudgetOptions {
  /** Seconds an hour; null: the default cron schedules' spending (below). */
  readonly secondsPerHour: number | null;
  /** Family runs an hour of the default cron schedules. */
  readonly cronRunsPerHour: number;
}

export class DbBudget {
  /** Seconds in the bucket (negative: spent ahead, by runs the budget does not hold). */
  private level = 0;
  private levelAt = 0;
  /** What the last full run cost, in seconds; null until one finished. */
  private runCost: number | null = null;
  /**
   * What the last run that read the tables whole cost: the cron schedules' run (the default
   * rate and the bucket's size). With rows kept in memory most runs read only what changed,
   * and would otherwise shrink the budget below what one reload needs.
   */
  private wholeCost: number | null = null;
  /** What the last run that read only what changed cost: what the next change run is expected to cost. */
  private changeCost: number | null = null;

  constructor(private readonly options: DbBudgetOptions) {}

  /** Seconds an hour, or null while the default is not yet known. */
  secondsPerHour(): number | null {
    if (this.options.secondsPerHour !== null) return this.options.secondsPerHour;
    return this.wholeCost === null ? null : this.options.cronRunsPerHour * this.wholeCost;
  }

  private capacity(): number | null {
    const unit = this.wholeCost ?? this.runCost;
    return unit === null ? null : BUCKET_RUNS * unit;
  }

  private refill(now: number): void {
    const perHour = this.secondsPerHour();
    const capacity = this.capacity();
    if (perHour === null || capacity === null) return;
    this.level = Math.min(capacity, this.level + (Math.max(0, now - this.levelAt) / 1000) * (perHour / 3600));
    this.levelAt = now;
  }

  /** Charges database time spent (ms of statement wall time). */
  spend(ms: number, now: number): void {
    this.refill(now);
    this.level -= ms / 1000;
  }

  /**
   * Charges a full run (every family). Its cost is what the next change run must find in the
   * bucket; a run that read the tables whole (`loadedWhole`) also sets the bucket's size and
   * the default rate.
   */
  fullRun(ms: number, now: number, loadedWhole = true): void {
    this.refill(now);
    // A run that read nothing (every statement failed at once) says nothing of the data's cost.
    if (ms > 0) {
      const first = this.capacity() === null;
      this.runCost = ms / 1000;
      if (loadedWhole) this.wholeCost = ms / 1000;
      else this.changeCost = ms / 1000;
      if (first) {
        this.level = this.capacity()!;
        this.levelAt = now;
      }
      this.level = Math.min(this.level, this.capacity()!);
    }
    this.spend(ms, now);
  }

  /** The seconds left in the bucket, or null while nothing is known. */
  left(now: number): number | null {
    this.refill(now);
    return this.capacity() === null ? null : this.level;
  }

  /** How long until a change run may start (0: now). */
  waitMs(now: number): number {
    this.refill(now);
    const perHour = this.secondsPerHour();
    // With rows in memory a change run reads only what changed, whatever the last run read.
    const needed = this.changeCost ?? this.runCost;
    if (perHour === null || needed === null || this.level >= needed) return 0;
    return Math.ceil(((needed - this.level) / (perHour / 3600)) * 1000);
  }
}
