/**
 * src/schedule/db-budget.ts: the token bucket of PostgreSQL seconds that holds change runs.
 */
import { describe, expect, it } from 'vitest';
import { BUCKET_RUNS, DbBudget } from '../../src/schedule/db-budget.js';

describe('database budget', () => {
  const HOUR = 3_600_000;

  it('the default: nothing held before the first full run; then the cron schedules\' spending, re-estimated after each full run', () => {
    const budget = new DbBudget({ secondsPerHour: null, cronRunsPerHour: 37 });
    expect(budget.waitMs(0)).toBe(0);
    expect(budget.left(0)).toBeNull();
    budget.fullRun(800, 0);
    expect(budget.secondsPerHour()).toBeCloseTo(37 * 0.8, 10);
    // Full after the first run (BUCKET_RUNS runs' worth), less that run.
    expect(budget.left(0)).toBeCloseTo((BUCKET_RUNS - 1) * 0.8, 10);
    budget.fullRun(1_000, 0);
    expect(budget.secondsPerHour()).toBeCloseTo(37, 10);
  });

  it('holds a run until the bucket has what the last run cost, refilling at budget/3600 a second; never above its capacity', () => {
    const budget = new DbBudget({ secondsPerHour: 36, cronRunsPerHour: 37 });
    budget.fullRun(1_000, 0); // capacity 3 s, 2 s left
    budget.fullRun(1_000, 0);
    budget.fullRun(1_000, 0); // 0 s left
    expect(budget.left(0)).toBeCloseTo(0, 10);
    // 36 s an hour: 0.01 s a second, so 1 s takes 100 s.
    expect(budget.waitMs(0)).toBe(100_000);
    expect(budget.waitMs(40_000)).toBe(60_000);
    expect(budget.waitMs(100_000)).toBe(0);
    expect(budget.left(10 * HOUR)).toBeCloseTo(3, 10);
    // Probes and self-healing runs are charged: the bucket may go below 0.
    budget.spend(5_000, 10 * HOUR);
    expect(budget.left(10 * HOUR)).toBeCloseTo(-2, 10);
    expect(budget.waitMs(10 * HOUR)).toBe(300_000);
  });

  it('a run that read nothing leaves the estimate as it was', () => {
    const budget = new DbBudget({ secondsPerHour: null, cronRunsPerHour: 37 });
    budget.fullRun(0, 0);
    expect(budget.secondsPerHour()).toBeNull();
    budget.fullRun(500, 0);
    budget.fullRun(0, 1_000);
    expect(budget.secondsPerHour()).toBeCloseTo(37 * 0.5, 10);
  });

  it('with rows in memory: the rate and the bucket follow the last run that read the tables whole; a change run needs what the last run cost', () => {
    const budget = new DbBudget({ secondsPerHour: null, cronRunsPerHour: 37 });
    budget.fullRun(1_200, 0, true); // the load at start: 37 × 1.2 s an hour, a bucket of 3.6 s
    budget.fullRun(20, 0, false);
    budget.fullRun(20, 0, false);
    // Runs that read only what changed shrink neither the rate nor the bucket.
    expect(budget.secondsPerHour()).toBeCloseTo(37 * 1.2, 10);
    expect(budget.left(0)).toBeCloseTo(3.6 - 1.2 - 0.04, 10);
    // A reload (the reconciliation) fits in the bucket without holding the next change run.
    budget.fullRun(1_200, 1_000, true);
    expect(budget.waitMs(1_000)).toBe(0);
    budget.fullRun(20, 1_000, false);
    expect(budget.waitMs(1_000)).toBe(0);
    // Spent below the last run's cost (20 ms), a change run waits for the bucket to refill that far.
    budget.spend(10_000, 1_000);
    expect(budget.waitMs(1_000)).toBeGreaterThan(0);
  });
});
