/**
 * Requests in the API's own syntax: `executions?period=last_week&group_by=hour`, with or
 * without the path the admin UI calls (`/stats/users?…`, `/api/v1/stats/dashboard?…`, or
 * the whole URL copied from a browser). Query strings are decoded and each parameter is
 * read, defaulted, normalised and validated exactly as the API's routes do; a value the
 * API answers with HTTP 400 is refused with the API's own message.
 */
import { UsageError } from '../lib/errors.js';
import { isPeriod, PERIODS } from '../lib/time.js';
import {
  DASHBOARD_SECTIONS,
  type DashboardSection,
  FAMILIES,
  type Family,
  type Granularity,
  parseFamilies,
  type StatsRequest,
} from './batches.js';

export const GRANULARITIES: readonly Granularity[] = ['quarter_hour', 'hour', 'day', 'week', 'month'];
export const STATUSES = ['PENDING', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELLED'] as const;

/** What a target on the command line or in a batch file means. */
export type Target =
  | { readonly kind: 'families'; readonly families: readonly Family[] }
  | { readonly kind: 'request'; readonly request: StatsRequest; readonly text: string };

/** A request the API would refuse (HTTP 400), or one stats-refresh cannot serve faithfully. */
export class RequestError extends UsageError {
  override readonly name = 'RequestError';
}

// Python's str.strip() removes exactly the characters str.isspace() accepts.
const PY_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_WHITESPACE}]+|[${PY_WHITESPACE}]+$`, 'g');

/** Python's `str.strip()`. */
export function pyStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

const periodMessage = `Invalid period. Must be one of: ${PERIODS.join(', ')}`;
const groupByMessage = `Invalid group_by. Must be one of: ${GRANULARITIES.join(', ')}`;

function period(value: string): (typeof PERIODS)[number] {
  if (!isPeriod(value)) throw new RequestError(periodMessage);
  return value;
}

function granularity(value: string): Granularity {
  if (!(GRANULARITIES as readonly string[]).includes(value)) throw new RequestError(groupByMessage);
  return value as Granularity;
}

const USER_GROUP_BY_ALIASES: Readonly<Record<string, Granularity>> = {
  '15min': 'quarter_hour',
  '15_min': 'quarter_hour',
  '15-minute': 'quarter_hour',
  '15-min': 'quarter_hour',
  quarterhour: 'quarter_hour',
  'quarter-hour': 'quarter_hour',
};

/** The users endpoint's normalize_user_group_by(): empty is day, then lower-cased and aliases mapped. */
export function normalizeUserGroupBy(value: string): string {
  if (value === '') return 'day';
  const lower = value.toLowerCase();
  return USER_GROUP_BY_ALIASES[lower] ?? lower;
}

/** A filter whose value is the literal `none` cannot be told apart, in its key, from no filter. */
function filterValue(name: string, value: string | null): string | null {
  if (value === null || value === '') return null;
  if (value === 'none') {
    throw new RequestError(
      `${name}=none is stored by the API under the key of the request without ${name}; refusing to overwrite that entry with a filtered one`,
    );
  }
  // PostgreSQL text cannot hold a NUL: the API's own query would fail on it, and ours would fail every request.
  if (value.includes('\0')) throw new RequestError(`${name} holds a NUL character (%00), which no value in the database can hold`);
  return value;
}

/** The dashboard route: period (default all) and include (default all four sections, items stripped). */
function dashboardRequest(get: (name: string) => string | null): StatsRequest {
  const chosen = period(get('period') ?? 'all');
  const include = (get('include') ?? DASHBOARD_SECTIONS.join(',')).split(',').map(pyStrip);
  const invalid = include.filter((section) => !(DASHBOARD_SECTIONS as readonly string[]).includes(section));
  if (invalid.length > 0) {
    throw new RequestError(`Invalid sections: ${invalid.join(', ')}. Valid sections: ${DASHBOARD_SECTIONS.join(', ')}`);
  }
  return { family: 'dashboard', period: chosen, include: include as DashboardSection[] };
}

/** The executions route: period (last_month), group_by (day, exact), status and task_type (optional). */
function executionsRequest(get: (name: string) => string | null): StatsRequest {
  const chosen = period(get('period') ?? 'last_month');
  const groupBy = granularity(get('group_by') ?? 'day');
  const status = get('status');
  if (status && !(STATUSES as readonly string[]).includes(status)) {
    throw new RequestError(`Invalid status. Must be one of: ${STATUSES.join(', ')}`);
  }
  return {
    family: 'executions',
    period: chosen,
    groupBy,
    status: status || null,
    taskType: filterValue('task_type', get('task_type')),
  };
}

/** The users route: period (last_year), group_by (month, normalised), country (optional, exact). */
function usersRequest(get: (name: string) => string | null): StatsRequest {
  const chosen = period(get('period') ?? 'last_year');
  const groupBy = granularity(normalizeUserGroupBy(get('group_by') ?? 'month'));
  return { family: 'users', period: chosen, groupBy, country: filterValue('country', get('country')) };
}

const ROUTES: Readonly<Record<Family, (get: (name: string) => string | null) => StatsRequest>> = {
  dashboard: dashboardRequest,
  executions: executionsRequest,
  users: usersRequest,
};

/** The request a family's route makes of its parameters (`get` returns null for an absent one). */
export function requestOf(family: Family, get: (name: string) => string | null): StatsRequest {
  return ROUTES[family](get);
}

/** The parameters each route reads; others are ignored by the API, and reported by us. */
export const PARAMETERS: Readonly<Record<Family, readonly string[]>> = {
  dashboard: ['include', 'period'],
  executions: ['group_by', 'period', 'status', 'task_type'],
  users: ['country', 'group_by', 'period'],
};

/** The endpoint named by a request's path: `executions`, `/stats/executions`, `/api/v1/stats/executions`, or a full URL. */
function endpointOf(path: string): Family {
  const local = path.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  const match = /^(?:\/?(?:api\/v1\/)?stats\/)?([a-z]+)\/?$/.exec(local);
  const endpoint = match && (FAMILIES as readonly string[]).includes(match[1]!) ? (match[1] as Family) : undefined;
  if (!endpoint) {
    throw new RequestError(
      `${JSON.stringify(path)} is not a stats endpoint; expected ${FAMILIES.join(', ')} (optionally as /stats/… or /api/v1/stats/…)`,
    );
  }
  return endpoint;
}

export interface ParsedRequest {
  readonly request: StatsRequest;
  /** Parameters present that the endpoint does not read (the API ignores them too). */
  readonly ignored: readonly string[];
}

/** Parses one request in the API's syntax; throws RequestError with the API's message when it would answer 400. */
export function parseRequest(text: string): ParsedRequest {
  const trimmed = text.trim();
  const question = trimmed.indexOf('?');
  const path = question < 0 ? trimmed : trimmed.slice(0, question);
  const query = question < 0 ? '' : trimmed.slice(question + 1).replace(/#.*$/, '');
  const family = endpointOf(path);
  // URLSearchParams decodes as the API's framework does: '+' is a space, %XX is UTF-8.
  const params = new URLSearchParams(query);
  // request.args.get(): the first value of a repeated name; absent is None.
  const get = (name: string) => params.get(name);
  const ignored = [...new Set(params.keys())].filter((name) => !PARAMETERS[family].includes(name));
  return { request: requestOf(family, get), ignored };
}

/** A target with, for a request, the parameters the API would ignore. */
export type ParsedTarget = Target & { readonly ignored?: readonly string[] };

/** A family name (or `all`) is a batch; anything with a path or a query string is a request. */
export function parseTarget(text: string): ParsedTarget {
  const trimmed = text.trim();
  const families = parseFamilies(trimmed);
  if (families) return { kind: 'families', families };
  if (!trimmed.includes('?') && !trimmed.includes('/')) {
    throw new RequestError(
      `unknown target ${JSON.stringify(trimmed)}; expected ${[...FAMILIES, 'all'].join(', ')} or a request such as 'executions?period=last_week&group_by=hour'`,
    );
  }
  const { request, ignored } = parseRequest(trimmed);
  return { kind: 'request', request, text: trimmed, ignored };
}
