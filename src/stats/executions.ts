/**
 * The executions family: `get_execution_stats` payloads (time series, top users and
 * task performance).
 */
import type { ExecutionsConfig } from '../requests/batches.js';
import {
  PyFloat,
  decimalToTenths,
  formatTenths,
  isDecimalZero,
  percent1,
  weightedMeanTenths,
} from '../lib/numbers.js';
import { bucketFunction, isoMinute } from '../lib/micros.js';
import { byLookBack, type Period } from '../lib/time.js';
import type { UserDetails } from '../pass/top-users.js';
import { type Sources, TOP_USERS_LIMIT } from '../sources.js';
import { parseSlug, taskName } from '../lib/slug.js';

interface SeriesPoint {
  timestamp: string | null;
  total: number;
  by_status: Map<string, number>;
  by_task: Map<string, number>;
}

function add(map: Map<string, number>, key: string, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

/** The filter index of a task_type (0: none), as the pass numbers them. */
function filterIndex(sources: Sources, taskType: string | null): number {
  return taskType === null ? 0 : 1 + sources.plan.taskTypes.indexOf(taskType);
}

export async function timeSeries(sources: Sources, config: ExecutionsConfig): Promise<SeriesPoint[]> {
  const pass = await sources.executions();
  const periods = [...new Set(sources.plan.timeSeries.map((need) => need.period))].sort(byLookBack);
  const lastTier = periods.indexOf(config.period);
  const filter = filterIndex(sources, config.taskType);
  const rollUp = bucketFunction(config.groupBy);
  const points = new Map<number | null, SeriesPoint>();
  for (const row of pass.timeline!) {
    if (row.tier > lastTier || !row.scriptClass.matches[filter]) continue;
    if (config.status !== null && row.status !== config.status) continue;
    const minute = row.bucket === null ? null : rollUp(row.bucket);
    let point = points.get(minute);
    if (!point) {
      point = { timestamp: minute === null ? null : isoMinute(minute), total: 0, by_status: new Map(), by_task: new Map() };
      points.set(minute, point);
    }
    point.total += row.count;
    add(point.by_status, row.status ?? 'UNKNOWN', row.count);
    add(point.by_task, row.scriptClass.task, row.count);
  }
  // The API sorts on the text, with a missing timestamp as "" (first).
  return [...points.values()].sort((a, b) => ((a.timestamp ?? '') < (b.timestamp ?? '') ? -1 : 1));
}

const FAVORITE_TASKS = 3;

/** A user's most executed scripts over all time, as task names; ties by script id. */
function favoriteTasks(details: UserDetails, slugOf: ReadonlyMap<string, string>): string[] {
  return details.scripts
    .filter((script) => slugOf.has(script.scriptId))
    .sort((a, b) => b.count - a.count || (a.scriptId < b.scriptId ? -1 : a.scriptId > b.scriptId ? 1 : 0))
    .slice(0, FAVORITE_TASKS)
    .map((script) => taskName(slugOf.get(script.scriptId)));
}

export async function topUsers(sources: Sources, config: ExecutionsConfig) {
  const [pass, details, catalog] = await Promise.all([sources.executions(), sources.userDetails(), sources.scripts()]);
  const need = sources.plan.topUsers.findIndex((n) => n.period === config.period && n.taskType === config.taskType);
  const slugOf = new Map(catalog.ids.map((id, index) => [id, catalog.slugs[index]!]));
  const users = pass.users!;
  return users
    .top(need, TOP_USERS_LIMIT)
    .map((ranked) => ({ ranked, id: users.idOf(ranked.user) }))
    // The API joins "user": a user id without a row there is not listed.
    .filter(({ id }) => details.has(id))
    .map(({ ranked, id }) => ({
      user_id: id,
      email: details.get(id)!.email,
      execution_count: ranked.runs,
      success_rate: new PyFloat(percent1(ranked.finished, ranked.runs)),
      favorite_tasks: favoriteTasks(details.get(id)!, slugOf),
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
  const pass = await sources.executions();
  const byTask = new Map<string, VersionPerformance[]>();
  for (const { slug, byPeriod } of pass.scriptTotals!) {
    const counts = byPeriod.get(period);
    if (slug === null || !counts || counts.timed === 0) continue;
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
    topUsers(sources, config),
    taskPerformance(sources, config.period),
  ]);
  return { time_series: series, top_users: users, task_performance: performance };
}
