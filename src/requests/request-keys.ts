/**
 * The cache keys and labels of a request: what the API would name the entry
 * for the same request.
 */
import type { DashboardSection, StatsRequest } from './batches.js';
import { cacheKey, METHODS } from './keys.js';
import type { Period } from '../lib/time.js';

/** The dashboard sections the API also caches under their own key. */
export const CACHED_SECTIONS = ['summary', 'trends', 'geographic'] as const satisfies readonly DashboardSection[];
export type CachedSection = (typeof CACHED_SECTIONS)[number];

/** The key of a request's payload. */
export function payloadKey(request: StatsRequest): string {
  switch (request.family) {
    case 'dashboard':
      return cacheKey(METHODS.dashboard, { period: request.period, include: request.include });
    case 'executions':
      return cacheKey(METHODS.executions, {
        period: request.period,
        group_by: request.groupBy,
        task_type: request.taskType,
        status: request.status,
      });
    case 'users':
      return cacheKey(METHODS.users, { period: request.period, group_by: request.groupBy, country: request.country });
  }
}

/** The key of a section the API caches on its own. */
export function sectionKey(section: CachedSection, period: Period): string {
  return cacheKey(METHODS[section], { period });
}

/** The sections a request's payload reads through their own cache entries. */
export function cachedSectionsOf(request: StatsRequest): CachedSection[] {
  switch (request.family) {
    case 'dashboard':
      return request.include.filter((section): section is CachedSection => (CACHED_SECTIONS as readonly string[]).includes(section));
    case 'users':
      return ['geographic'];
    case 'executions':
      return [];
  }
}

/** A short human label for logs and the run summary, e.g. `dashboard/all[summary,trends]`. */
export function requestLabel(request: StatsRequest): string {
  switch (request.family) {
    case 'dashboard':
      return `dashboard/${request.period}[${[...request.include].sort().join(',')}]`;
    case 'executions':
      return (
        `executions/${request.period}/${request.groupBy}` +
        `${request.status ? `/status=${request.status}` : ''}${request.taskType ? `/task_type=${request.taskType}` : ''}`
      );
    case 'users':
      return `users/${request.period}/${request.groupBy}${request.country ? `/country=${request.country}` : ''}`;
  }
}
