/**
 * The dashboard family's sections (`get_dashboard_stats`): summary, trends and tasks; the
 * geographic section is shared with the users family (geographic.ts).
 */
import { floorDiv, isoDayOf, isoMinute, MINUTES_PER_DAY, monthStartDay } from '../lib/micros.js';
import { PyFloat, percent1 } from '../lib/numbers.js';
import { majorVersion, taskName } from '../lib/slug.js';
import type { Period } from '../lib/time.js';
import type { HourCount, RunData, Since } from '../pass/run-data.js';
import { trendWindows } from './sections.js';

/** How many task types the tasks section lists. */
export const TOP_TASKS = 10;
/** How many major versions the tasks section lists. */
export const TOP_VERSIONS = 10;

export function summarySection(data: RunData, since: Since) {
  let total = 0;
  let finished = 0;
  let failed = 0;
  let cancelled = 0;
  for (const counts of data.executionsByScript(since)) {
    total += counts.total;
    finished += counts.finished;
    failed += counts.failed;
    cancelled += counts.cancelled;
  }
  return {
    total_executions: total,
    total_jobs: total,
    total_users: data.userCount(since),
    total_scripts: data.scriptCount(),
    total_executions_finished: finished,
    total_executions_failed: failed,
    total_executions_cancelled: cancelled,
  };
}

/** Hourly counts (ascending) summed per day or month, ascending: each label is formatted once. */
function sumBy(hours: readonly HourCount[], unit: 'day' | 'month'): Array<[string, number]> {
  const sums: Array<[string, number]> = [];
  let bucket = Number.NaN;
  for (const { hour, count } of hours) {
    const day = floorDiv(hour, MINUTES_PER_DAY);
    const start = unit === 'day' ? day : monthStartDay(day);
    if (start !== bucket) {
      bucket = start;
      const date = isoDayOf(start);
      sums.push([unit === 'day' ? date : date.slice(0, 7), 0]);
    }
    sums[sums.length - 1]![1] += count;
  }
  return sums;
}

export function trendsSection(data: RunData, period: Period, at: Date) {
  const windows = trendWindows(period, at);
  const trends: Record<string, unknown> = {};
  if (windows.hourly !== null) {
    trends.hourly_jobs = data.startsPerHour(windows.hourly).map(({ hour, count }) => ({ hour: isoMinute(hour), count }));
  }
  if (windows.daily !== null) {
    trends.daily_jobs = sumBy(data.startsPerHour(windows.daily), 'day').map(([date, count]) => ({ date, count }));
  }
  trends.monthly_jobs = sumBy(data.startsPerHour(windows.monthly), 'month').map(([month, count]) => ({ month, count }));
  return trends;
}

export function tasksSection(data: RunData, since: Since) {
  const byTask = new Map<string, { count: number; finished: number }>();
  const byVersion = new Map<string, number>();
  let joined = 0;
  for (const { slug, total, finished } of data.executionsByScript(since)) {
    if (slug === null || total === 0) continue;
    const task = byTask.get(taskName(slug)) ?? { count: 0, finished: 0 };
    task.count += total;
    task.finished += finished;
    byTask.set(taskName(slug), task);
    byVersion.set(majorVersion(slug), (byVersion.get(majorVersion(slug)) ?? 0) + total);
    joined += total;
  }
  const byType = [...byTask]
    .map(([task, { count, finished }]) => ({ task, count, success_rate: new PyFloat(percent1(finished, count)) }))
    .sort((a, b) => b.count - a.count);
  const versions = [...byVersion]
    .map(([version, count]) => ({ version, count, percentage: new PyFloat(percent1(count, joined)) }))
    .sort((a, b) => b.count - a.count);
  return { by_type: byType.slice(0, TOP_TASKS), by_version: versions.slice(0, TOP_VERSIONS) };
}
