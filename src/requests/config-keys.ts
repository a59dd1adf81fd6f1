/**
 * The cache keys and labels of a refresh config: what the API would name the entry
 * for the same request.
 */
import type { DashboardSection, RefreshConfig } from './batches.js';
import { cacheKey } from './keys.js';
import type { Period } from '../lib/time.js';

/** Sections the API also caches under their own key, and their method names. */
export const CACHED_SECTIONS = {
  summary: '_get_summary_stats',
  trends: '_get_trends_data',
  geographic: '_get_geographic_data',
} as const satisfies Partial<Record<DashboardSection, string>>;

export type CachedSection = keyof typeof CACHED_SECTIONS;

/** The key of a config's payload. */
export function payloadKey(config: RefreshConfig): string {
  switch (config.family) {
    case 'dashboard':
      return cacheKey('get_dashboard_stats', { period: config.period, include: config.include });
    case 'executions':
      return cacheKey('get_execution_stats', {
        period: config.period,
        group_by: config.groupBy,
        task_type: config.taskType,
        status: config.status,
      });
    case 'users':
      return cacheKey('get_user_stats', { period: config.period, group_by: config.groupBy, country: config.country });
  }
}

/** The key of a section the API caches on its own. */
export function sectionKey(section: CachedSection, period: Period): string {
  return cacheKey(CACHED_SECTIONS[section], { period });
}

/** The sections a config's payload reads through their own cache entries. */
export function cachedSectionsOf(config: RefreshConfig): CachedSection[] {
  switch (config.family) {
    case 'dashboard':
      return config.include.filter((section): section is CachedSection => section in CACHED_SECTIONS);
    case 'users':
      return ['geographic'];
    case 'executions':
      return [];
  }
}

/** A short human label for logs and the run summary, e.g. `dashboard/all[summary,trends]`. */
export function configLabel(config: RefreshConfig): string {
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
