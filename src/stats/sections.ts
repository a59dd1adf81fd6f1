/**
 * The sections payloads are made of, as data: which sections each request's payload holds
 * (under which field), which sources each section reads, and what each asks the pass to
 * fold. The load plan, the failure table of docs/architecture.md and a request's failure all
 * follow from these declarations.
 */
import { microsOf } from '../lib/micros.js';
import type { Column } from '../pass/catalog.js';
import { HOURLY_WINDOW_MS, MONTHLY_WINDOW_MS, type Period, periodCutoff } from '../lib/time.js';
import { type LoadNeeds, type LoadPlan, mergeNeeds, type Since, SOURCE_NAMES, type SourceName, withInputs } from '../pass/plan.js';
import { DASHBOARD_SECTIONS, type Granularity, type StatsRequest } from '../requests/batches.js';

/** One section of one payload, with everything that makes it differ from another. */
export type SectionRequest =
  | { readonly section: 'summary' | 'trends' | 'geographic' | 'tasks' | 'taskPerformance' | 'activity'; readonly period: Period }
  | {
      readonly section: 'timeSeries';
      readonly period: Period;
      readonly groupBy: Granularity;
      readonly taskType: string | null;
      readonly status: string | null;
    }
  | { readonly section: 'topUsers'; readonly period: Period; readonly taskType: string | null }
  | { readonly section: 'registration'; readonly period: Period; readonly groupBy: Granularity; readonly country: string | null };

export type SectionName = SectionRequest['section'];
export type SectionOf<S extends SectionName> = Extract<SectionRequest, { section: S }>;

/** The sources each section reads (the sources they are computed from fail it too: see withInputs). */
export const SECTION_SOURCES: Readonly<Record<SectionName, readonly SourceName[]>> = {
  summary: ['scripts', 'user_table', 'execution_pass'],
  trends: ['execution_pass'],
  geographic: ['user_table'],
  tasks: ['scripts', 'execution_pass'],
  timeSeries: ['scripts', 'execution_pass'],
  topUsers: ['scripts', 'execution_pass', 'top_user_emails'],
  taskPerformance: ['scripts', 'execution_pass'],
  registration: ['user_table'],
  activity: ['user_table', 'execution_pass'],
};

/** The columns each section decodes: a column of a type the pass cannot read fails the sections reading it. */
export const SECTION_COLUMNS: Readonly<Record<SectionName, readonly Column[]>> = {
  summary: ['execution.start_date', 'execution.status', 'user.created_at', 'script.id'],
  trends: ['execution.start_date'],
  geographic: ['user.country', 'user.created_at'],
  tasks: ['execution.start_date', 'execution.status', 'execution.script_id', 'script.id', 'script.slug'],
  timeSeries: ['execution.start_date', 'execution.end_date', 'execution.status', 'execution.script_id', 'script.id', 'script.slug'],
  topUsers: [
    'execution.start_date', 'execution.status', 'execution.script_id', 'execution.user_id',
    'user.id', 'user.email', 'script.id', 'script.slug',
  ],
  taskPerformance: ['execution.start_date', 'execution.end_date', 'execution.status', 'execution.script_id', 'script.id', 'script.slug'],
  registration: ['user.created_at', 'user.country'],
  activity: ['execution.start_date', 'execution.user_id', 'user.id', 'user.country'],
};

/** The error of the first refused column a section reads, or null. */
export function refusedColumnOf(request: SectionRequest, refused: ReadonlyMap<Column, Error>): Error | null {
  const column = SECTION_COLUMNS[request.section].find((candidate) => refused.has(candidate));
  return column ? refused.get(column)! : null;
}

/** The most users any top list shows. */
export const TOP_USERS_LIMIT = 10;

/** A payload field and the section it holds. */
export type PayloadPart = readonly [field: string, request: SectionRequest];

/** The sections of a request's payload, under their fields, in the API's order. */
export function partsOf(request: StatsRequest): PayloadPart[] {
  const { period } = request;
  switch (request.family) {
    case 'dashboard':
      // Always summary, trends, geographic, tasks, whatever the order of `include`.
      return DASHBOARD_SECTIONS.filter((section) => request.include.includes(section)).map((section) => [section, { section, period }]);
    case 'executions':
      return [
        ['time_series', { section: 'timeSeries', period, groupBy: request.groupBy, taskType: request.taskType, status: request.status }],
        ['top_users', { section: 'topUsers', period, taskType: request.taskType }],
        ['task_performance', { section: 'taskPerformance', period }],
      ];
    case 'users':
      return [
        ['registration_trends', { section: 'registration', period, groupBy: request.groupBy, country: request.country }],
        ['geographic_distribution', { section: 'geographic', period }],
        ['activity_stats', { section: 'activity', period }],
      ];
  }
}

/** The window of a period at an instant: its cutoff in µs, or null for `all`. */
export function sinceOf(period: Period, at: Date): Since {
  const cutoff = periodCutoff(period, at);
  return cutoff === null ? null : microsOf(cutoff);
}

export interface TrendWindows {
  /** Starts since now − 72 h, for the hourly series (last_day and all only). */
  readonly hourly: number | null;
  /** Starts in the period, for the daily series (periods with a cutoff only). */
  readonly daily: number | null;
  /** Starts since now − 365 days, for the monthly series. */
  readonly monthly: number;
}

export function trendWindows(period: Period, at: Date): TrendWindows {
  return {
    hourly: period === 'last_day' || period === 'all' ? microsOf(new Date(at.getTime() - HOURLY_WINDOW_MS)) : null,
    daily: sinceOf(period, at),
    monthly: microsOf(new Date(at.getTime() - MONTHLY_WINDOW_MS)),
  };
}

/** What the pass must fold for a section computed at `at`. */
export function needsOf(request: SectionRequest, at: Date): LoadNeeds {
  const since = sinceOf(request.period, at);
  const sources = [...SECTION_SOURCES[request.section]];
  switch (request.section) {
    case 'summary':
      return { sources, scriptWindows: [since], userColumns: { createdAt: true } };
    case 'tasks':
      return { sources, scriptWindows: [since], byScript: true };
    case 'taskPerformance':
      return { sources, scriptWindows: [since], byScript: true, durations: true };
    case 'trends': {
      const { hourly, daily, monthly } = trendWindows(request.period, at);
      const hourWindows = [hourly, daily, monthly].filter((window): window is number => window !== null);
      return { sources, hourWindows, now: microsOf(at) };
    }
    case 'geographic':
      return { sources, userColumns: { createdAt: true, country: true } };
    case 'timeSeries':
      return { sources, series: [{ since, groupBy: request.groupBy }], taskTypes: request.taskType === null ? [] : [request.taskType] };
    case 'topUsers':
      return {
        sources,
        topUsers: [{ since, taskType: request.taskType, limit: TOP_USERS_LIMIT }],
        taskTypes: request.taskType === null ? [] : [request.taskType],
      };
    case 'registration':
      return { sources, userColumns: { createdAt: true, country: true } };
    case 'activity':
      return { sources, activity: [since], userColumns: { id: true, country: true } };
  }
}

/**
 * The load plan of computing sections, each group at its own instant (a run's own, and
 * those of the API's values it compares with), leaving out the sections that read a
 * refused column: one pass folds them all.
 */
export function planSections(
  groups: ReadonlyArray<{ readonly parts: readonly PayloadPart[]; readonly at: Date }>,
  refused: ReadonlyMap<Column, Error> = new Map(),
): LoadPlan {
  return mergeNeeds(
    groups.flatMap(({ parts, at }) =>
      parts.filter(([, request]) => refusedColumnOf(request, refused) === null).map(([, request]) => needsOf(request, at)),
    ),
  );
}

/** The load plan of computing `requests` at `at`. */
export function planLoad(requests: readonly StatsRequest[], at: Date, refused: ReadonlyMap<Column, Error> = new Map()): LoadPlan {
  return planSections([{ parts: requests.flatMap(partsOf), at }], refused);
}

/** Every source a request's payload is computed from. */
export function sourcesOf(request: StatsRequest): Set<SourceName> {
  return withInputs(partsOf(request).flatMap(([, part]) => SECTION_SOURCES[part.section]));
}

/** For each source, the sections that fail when it does: those reading it or a source computed from it. */
export function failureTable(): Map<SourceName, SectionName[]> {
  const sections = Object.keys(SECTION_SOURCES) as SectionName[];
  return new Map(
    SOURCE_NAMES.map((source) => [source, sections.filter((section) => withInputs(SECTION_SOURCES[section]).has(source))]),
  );
}
