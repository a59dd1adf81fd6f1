/**
 * The executions family: `get_execution_stats` payloads (time series, top users and
 * task performance).
 */
import type { ExecutionsConfig, Granularity } from '../requests/batches.js';
import {
  PyFloat,
  decimalToTenths,
  formatTenths,
  isDecimalZero,
  percent1,
  weightedMeanTenths,
} from '../lib/numbers.js';
import { byLookBack, type Period, weekStart } from '../lib/time.js';
import type { Sources } from '../sources.js';
import { parseSlug, taskName } from '../lib/slug.js';

/** Rolls a `YYYY-MM-DDTHH:MM:SS` bucket up to a coarser granularity. */
export function rollUp(bucket: string, granularity: Granularity): string {
  switch (granularity) {
    case 'quarter_hour':
      return bucket;
    case 'hour':
      return `${bucket.slice(0, 13)}:00:00`;
    case 'day':
      return `${bucket.slice(0, 10)}T00:00:00`;
    case 'week':
      return `${weekStart(bucket.slice(0, 10))}T00:00:00`;
    case 'month':
      return `${bucket.slice(0, 7)}-01T00:00:00`;
  }
}

interface SeriesPoint {
  timestamp: string | null;
  total: number;
  by_status: Map<string, number>;
  by_task: Map<string, number>;
}

function add(map: Map<string, number>, key: string, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

export async function timeSeries(sources: Sources, config: ExecutionsConfig): Promise<SeriesPoint[]> {
  const { rows } = await sources.timeline();
  const periods = [...new Set(sources.plan.timeSeries.map((need) => need.period))].sort(byLookBack);
  const lastTier = periods.indexOf(config.period);
  const points = new Map<string | null, SeriesPoint>();
  for (const row of rows) {
    if (row.tier > lastTier) continue;
    if (config.status !== null && row.status !== config.status) continue;
    const timestamp = row.bucket === null ? null : rollUp(row.bucket, config.groupBy);
    let point = points.get(timestamp);
    if (!point) {
      point = { timestamp, total: 0, by_status: new Map(), by_task: new Map() };
      points.set(timestamp, point);
    }
    point.total += row.count;
    add(point.by_status, row.status ?? 'UNKNOWN', row.count);
    add(point.by_task, row.task, row.count);
  }
  // The API sorts on the text, with a missing timestamp as "" (first).
  return [...points.values()].sort((a, b) => ((a.timestamp ?? '') < (b.timestamp ?? '') ? -1 : 1));
}

export async function topUsers(sources: Sources, period: Period) {
  const [scan, scripts] = await Promise.all([sources.userScan(), sources.scripts()]);
  return (scan.topUsers.get(period) ?? []).map((user) => ({
    user_id: user.userId,
    email: user.email,
    execution_count: user.runs,
    success_rate: new PyFloat(percent1(user.finished, user.runs)),
    favorite_tasks: user.favoriteScriptIds.map((id) => taskName(scripts.get(id))),
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

export async function taskPerformance(sources: Sources, period: Period) {
  const [byScript, scripts] = await Promise.all([sources.executionsByScript(), sources.scripts()]);
  const byTask = new Map<string, VersionPerformance[]>();
  for (const row of byScript) {
    const slug = row.scriptId === null ? undefined : scripts.get(row.scriptId);
    const counts = row.byPeriod.get(period);
    if (slug === undefined || !counts || counts.timed === 0) continue;
    const { task, version } = parseSlug(slug);
    const versions = byTask.get(task) ?? [];
    versions.push({ version, total: counts.timed, finished: counts.timedFinished, avg: storedAverage(counts.timedAvgMinutes) });
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
          .sort((a, b) => (a.version < b.version ? 1 : a.version > b.version ? -1 : 0))
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

export async function executionsPayload(config: ExecutionsConfig, sources: Sources) {
  const [series, users, performance] = await Promise.all([
    timeSeries(sources, config),
    topUsers(sources, config.period),
    taskPerformance(sources, config.period),
  ]);
  return { time_series: series, top_users: users, task_performance: performance };
}
