/**
 * What each command refreshes, as data: the original design's requests first, then
 * the combinations the admin UI requests (see the contract's "The batches").
 */
import type { Period } from '../lib/time.js';

export const FAMILIES = ['dashboard', 'executions', 'users'] as const;
export type Family = (typeof FAMILIES)[number];

export const DASHBOARD_SECTIONS = ['summary', 'trends', 'geographic', 'tasks'] as const;
export type DashboardSection = (typeof DASHBOARD_SECTIONS)[number];

/** Buckets the time series and registration trends can be grouped by. */
export type Granularity = 'quarter_hour' | 'hour' | 'day' | 'week' | 'month';

export interface DashboardRequest {
  readonly family: 'dashboard';
  readonly period: Period;
  readonly include: readonly DashboardSection[];
}

export interface ExecutionsRequest {
  readonly family: 'executions';
  readonly period: Period;
  readonly groupBy: Granularity;
  /** Restricts the time series (only) to one status. */
  readonly status: string | null;
  /** Restricts the time series and top users to scripts whose slug is LIKE `%taskType%`. */
  readonly taskType: string | null;
}

export interface UsersRequest {
  readonly family: 'users';
  readonly period: Period;
  readonly groupBy: Granularity;
  /** Restricts the registration trends (only) to users of this country. */
  readonly country: string | null;
}

export type StatsRequest = DashboardRequest | ExecutionsRequest | UsersRequest;

const ALL_SECTIONS = DASHBOARD_SECTIONS;

const dashboard = (period: Period, include: readonly DashboardSection[]): DashboardRequest => ({
  family: 'dashboard',
  period,
  include,
});
const executions = (period: Period, groupBy: Granularity, status: string | null = null): ExecutionsRequest => ({
  family: 'executions',
  period,
  groupBy,
  status,
  taskType: null,
});
const users = (period: Period, groupBy: Granularity): UsersRequest => ({ family: 'users', period, groupBy, country: null });

/** The default batch of every family, in the contract's order. */
export const BATCHES: Readonly<Record<Family, readonly StatsRequest[]>> = {
  dashboard: [
    dashboard('all', ALL_SECTIONS),
    dashboard('last_month', ['summary', 'trends']),
    dashboard('last_week', ['summary']),
    dashboard('last_year', ['trends', 'geographic']),
    dashboard('all', ['summary']),
    dashboard('all', ['trends']),
    dashboard('all', ['geographic']),
    dashboard('all', ['tasks']),
    dashboard('last_day', ALL_SECTIONS),
    dashboard('last_week', ALL_SECTIONS),
    dashboard('last_month', ALL_SECTIONS),
    dashboard('last_year', ALL_SECTIONS),
  ],
  executions: [
    executions('last_month', 'day'),
    executions('last_week', 'day'),
    executions('last_year', 'month'),
    executions('last_month', 'day', 'FAILED'),
    executions('last_day', 'quarter_hour'),
    executions('last_week', 'hour'),
    executions('last_year', 'week'),
    executions('all', 'month'),
  ],
  users: [
    users('last_year', 'month'),
    users('last_month', 'day'),
    users('all', 'month'),
    users('last_day', 'quarter_hour'),
    users('last_week', 'hour'),
    users('last_year', 'week'),
  ],
};

/** The requests a command refreshes, in batch order. */
export function requestsFor(families: readonly Family[]): StatsRequest[] {
  return families.flatMap((family) => BATCHES[family]);
}

/** Parses a family name or `all`; null when it is neither. */
export function parseFamilies(name: string): Family[] | null {
  if (name === 'all') return [...FAMILIES];
  return (FAMILIES as readonly string[]).includes(name) ? [name as Family] : null;
}
