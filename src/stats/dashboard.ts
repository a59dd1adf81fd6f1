/**
 * The dashboard family: `get_dashboard_stats` payloads and their summary, trends,
 * geographic and tasks sections.
 */
import type { DashboardConfig, DashboardSection } from '../requests/batches.js';
import { PyFloat, percent1 } from '../lib/numbers.js';
import type { UserTable } from '../pass/user-table.js';
import type { Sources } from '../sources.js';
import { majorVersion, taskName } from '../lib/slug.js';
import type { Period } from '../lib/time.js';
import { trendWindows } from '../pass/execution-pass.js';
import { geographicSection } from './geographic.js';

const TOP_TASKS = 10;
const TOP_VERSIONS = 10;

/** Users created in the period (all users for `all`, NULL created_at included). */
export function usersInPeriod(table: UserTable, cutoff: number | null): number {
  if (cutoff === null) return table.count;
  let users = 0;
  for (let row = 0; row < table.count; row++) if (table.createdAt[row]! >= cutoff) users++;
  return users;
}

export async function summarySection(sources: Sources, period: Period) {
  const [pass, table, catalog] = await Promise.all([sources.executions(), sources.userTable(), sources.scripts()]);
  let total = 0;
  let finished = 0;
  let failed = 0;
  let cancelled = 0;
  for (const row of pass.scriptTotals!) {
    const counts = row.byPeriod.get(period);
    if (!counts) continue;
    total += counts.total;
    finished += counts.finished;
    failed += counts.failed;
    cancelled += counts.cancelled;
  }
  return {
    total_executions: total,
    total_jobs: total,
    total_users: usersInPeriod(table, sources.plan.cutoffs[period]),
    total_scripts: catalog.ids.length,
    total_executions_finished: finished,
    total_executions_failed: failed,
    total_executions_cancelled: cancelled,
  };
}

function sumInto(target: Map<string, number>, key: string, count: number): void {
  if (count > 0) target.set(key, (target.get(key) ?? 0) + count);
}

export async function trendsSection(sources: Sources, period: Period) {
  const hours = (await sources.executions()).hours!;
  const windowOf = trendWindows(sources.plan);
  const ascending = hours; // the pass emits hours in order
  const trends: Record<string, unknown> = {};
  if (period === 'last_day' || period === 'all') {
    trends.hourly_jobs = ascending
      .filter((row) => (row.counts.get('hourly') ?? 0) > 0)
      .map((row) => ({ hour: row.hour, count: row.counts.get('hourly')! }));
  }
  if (period !== 'all' && windowOf.has(period)) {
    const days = new Map<string, number>();
    for (const row of ascending) sumInto(days, row.hour.slice(0, 10), row.counts.get(period) ?? 0);
    trends.daily_jobs = [...days].map(([date, count]) => ({ date, count }));
  }
  const months = new Map<string, number>();
  for (const row of ascending) sumInto(months, row.hour.slice(0, 7), row.counts.get('monthly') ?? 0);
  trends.monthly_jobs = [...months].map(([month, count]) => ({ month, count }));
  return trends;
}

export async function tasksSection(sources: Sources, period: Period) {
  const pass = await sources.executions();
  const byTask = new Map<string, { count: number; finished: number }>();
  const byVersion = new Map<string, number>();
  let joined = 0;
  for (const { slug, byPeriod } of pass.scriptTotals!) {
    const counts = byPeriod.get(period);
    if (slug === null || !counts || counts.total === 0) continue;
    const task = byTask.get(taskName(slug)) ?? { count: 0, finished: 0 };
    task.count += counts.total;
    task.finished += counts.finished;
    byTask.set(taskName(slug), task);
    sumInto(byVersion, majorVersion(slug), counts.total);
    joined += counts.total;
  }
  const byType = [...byTask]
    .map(([task, { count, finished }]) => ({ task, count, success_rate: new PyFloat(percent1(finished, count)) }))
    .sort((a, b) => b.count - a.count);
  const versions = [...byVersion]
    .map(([version, count]) => ({ version, count, percentage: new PyFloat(percent1(count, joined)) }))
    .sort((a, b) => b.count - a.count);
  return { by_type: byType.slice(0, TOP_TASKS), by_version: versions.slice(0, TOP_VERSIONS) };
}

const SECTION_BUILDERS: Readonly<Record<DashboardSection, (sources: Sources, period: Period) => Promise<unknown>>> = {
  summary: summarySection,
  trends: trendsSection,
  geographic: geographicSection,
  tasks: tasksSection,
};

/** A dashboard section for a period, built once per run however many configs include it. */
export function dashboardSection(sources: Sources, section: DashboardSection, period: Period): Promise<unknown> {
  return sources.memo(`${section}/${period}`, () => SECTION_BUILDERS[section](sources, period));
}

/** The payload of a dashboard config: its sections in the API's order. */
export async function dashboardPayload(config: DashboardConfig, sources: Sources) {
  const ordered = (['summary', 'trends', 'geographic', 'tasks'] as const).filter((section) =>
    config.include.includes(section),
  );
  const sections = await Promise.all(ordered.map((section) => dashboardSection(sources, section, config.period)));
  return Object.fromEntries(ordered.map((section, index) => [section, sections[index]]));
}
