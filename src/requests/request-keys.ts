/**
 * The cache keys and labels of a refresh config: what the API would name the entry
 * for the same request.
 */
import type { DashboardSection, StatsRequest } from './batches.js';
import { cacheKey, METHODS } from './keys.js';
import type { Period } from '../lib/time.js';

/** The dashboard sections the API also caches under their own key. */
export const CACHED_SECTIONS = ['summary', 'trends', 'geographic'] as const satisfies readonly DashboardSection[];
export type CachedSection = (typeof CACHED_SECTIONS)[number];

/** The key of a config's payload. */
export function payloadKey(config: StatsRequest): string {
  switch (config.family) {
    case 'dashboard':
      return cacheKey(METHODS.dashboard, { period: config.period, include: config.include });
    case 'executions':
      return cacheKey(METHODS.executions, {
        period: config.period,
        group_by: config.groupBy,
        task_type: config.taskType,
        status: config.status,
      });
    case 'users':
      return cacheKey(METHODS.users, { period: config.period, group_by: config.groupBy, country: config.country });
  }
}

/** The key of a section the API caches on its own. */
export function sectionKey(section: CachedSection, period: Period): string {
  return cacheKey(METHODS[section], { period });
}

/** The sections a config's payload reads through their own cache entries. */
export function cachedSectionsOf(config: StatsRequest): CachedSection[] {
  switch (config.family) {
    case 'dashboard':
      return config.include.filter((section): section is CachedSection => (CACHED_SECTIONS as readonly string[]).includes(section));
    case 'users':
      return ['geographic'];
    case 'executions':
      return [];
  }
}

/** A short human label for logs and the run summary, e.g. `dashboard/all[summary,trends]`. */
export function requestLabel(config: StatsRequest): string {
  switch (config.family) {
    case 'dashboard':
      return `dashboard/${config.period}[${[...config.include].sort().join(',')}]`;
    case 'executions':
      return (
        `executions/${config.period}/${config.groupBy}` +
        `${config.status ? `/status=${config.status}` : ''}${config.taskType ? `/task_type=${config.taskType}` : ''}`
      );
    case 'users':
      return `users/${config.period}/${config.groupBy}${config.country ? `/country=${config.country}` : ''}`;
  }
}
