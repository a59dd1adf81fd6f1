/**
 * The executions family's sections (`get_execution_stats`): time series, top users and
 * task performance.
 */
import { compareText } from '../lib/compare.js';
import { isoMinute } from '../lib/micros.js';
import { PyFloat, decimalToTenths, formatTenths, isDecimalZero, percent1, weightedMeanTenths } from '../lib/numbers.js';
import { parseSlug, taskName } from '../lib/slug.js';
import type { RunData, SeriesQuery, Since, TopUser } from '../pass/run-data.js';
import { TOP_USERS_LIMIT } from './sections.js';

interface SeriesPoint {
  timestamp: string | null;
  total: number;
  by_status: Map<string, number>;
  by_task: Map<string, number>;
}

function add(map: Map<string, number>, key: string, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

/** The name the API gives a NULL status in a series' `by_status`. */
export const NULL_STATUS = 'UNKNOWN';

export function timeSeries(data: RunData, query: SeriesQuery): SeriesPoint[] {
  const points = new Map<number | null, SeriesPoint>();
  for (const cell of data.timeSeries(query)) {
    let point = points.get(cell.bucket);
    if (!point) {
      point = { timestamp: cell.bucket === null ? null : isoMinute(cell.bucket), total: 0, by_status: new Map(), by_task: new Map() };
      points.set(cell.bucket, point);
    }
    point.total += cell.count;
    add(point.by_status, cell.status ?? NULL_STATUS, cell.count);
    add(point.by_task, cell.task, cell.count);
  }
  // The API sorts on the text, with a missing timestamp as "" (first).
  return [...points.values()]
    .sort((a, b) => compareText(a.timestamp ?? '', b.timestamp ?? ''))
    .map((point) => ({ ...point, by_status: byName(point.by_status), by_task: byName(point.by_task) }));
}

/**
 * A point's counts in the order of their names. The API's order is PostgreSQL's hash order,
 * which no reader relies on; the order rows were met in would make the bytes follow where the
 * rows sit in the heap (a progress write moves a row), and differ from the rows in memory.
 */
function byName(counts: Map<string, number>): Map<string, number> {
  return new Map([...counts].sort((a, b) => compareText(a[0], b[0])));
}

const FAVORITE_TASKS = 3;

/** A user's most executed scripts over all time, as task names; ties by script id. */
function favoriteTasks(user: TopUser): string[] {
  return [...user.scripts]
    .sort((a, b) => b.count - a.count || compareText(a.scriptId, b.scriptId))
    .slice(0, FAVORITE_TASKS)
    .map((script) => taskName(script.slug));
}

export function topUsers(data: RunData, since: Since, taskType: string | null) {
  return data.topUsers(since, taskType, TOP_USERS_LIMIT).map((user) => ({
    user_id: user.userId,
    email: user.email,
    execution_count: user.runs,
    success_rate: new PyFloat(percent1(user.finished, user.runs)),
    favorite_tasks: favoriteTasks(user),
  }));
}

/** A version's average as the API stores it: an exact zero is the integer 0, else one-decimal text. */
type StoredAverage = { zero: true } | { zero: false; tenths: bigint; negative: boolean };

function storedAverage(avg: string | null): StoredAverage {
  if (avg === null || isDecimalZero(avg)) return { zero: true };
  return { zero: false, tenths: decimalToTenths(avg), negative: avg.trim().startsWith('-') };
}

function averageJson(avg: StoredAverage): number | string {
  return avg.zero ? 0 : formatTenths(avg.tenths, avg.negative);
}

interface VersionPerformance {
  version: string;
  total: number;
  finished: number;
  avg: StoredAverage;
}

function taskAverageJson(versions: readonly VersionPerformance[]): PyFloat | string {
  // Only zeros (Python ints) average to the float 0.0; any decimal keeps the mean a decimal.
  if (versions.every((version) => version.avg.zero)) return new PyFloat(0);
  const mean = weightedMeanTenths(
    versions.map((version) => ({ tenths: version.avg.zero ? 0n : version.avg.tenths, weight: version.total })),
  );
  return formatTenths(mean.tenths, mean.negative);
}

export function taskPerformance(data: RunData, since: Since) {
  const byTask = new Map<string, VersionPerformance[]>();
  for (const { slug, timed, timedFinished, timedAvgMinutes } of data.executionsByScript(since)) {
    if (slug === null || timed === 0) continue;
    const { task, version } = parseSlug(slug);
    const versions = byTask.get(task) ?? [];
    versions.push({ version, total: timed, finished: timedFinished, avg: storedAverage(timedAvgMinutes) });
    byTask.set(task, versions);
  }
  return [...byTask]
    .map(([task, versions]) => {
      const total = versions.reduce((sum, version) => sum + version.total, 0);
      const finished = versions.reduce((sum, version) => sum + version.finished, 0);
      return {
        task,
        total_executions: total,
        success_rate: new PyFloat(percent1(finished, total)),
        avg_duration_minutes: taskAverageJson(versions),
        versions: [...versions]
          .sort((a, b) => compareText(b.version, a.version))
          .map((version) => ({
            version: version.version,
            total_executions: version.total,
            success_rate: new PyFloat(percent1(version.finished, version.total)),
            avg_duration_minutes: averageJson(version.avg),
          })),
        failure_reasons: [],
      };
    })
    .sort((a, b) => b.total_executions - a.total_executions);
}
