/**
 * Redis key building, exactly as the API names its cache entries:
 * `stats_service:<method>:<name=value>` pairs sorted by name and joined by `_`.
 */

export const KEY_PREFIX = 'stats_service:';

/**
 * The StatsService methods whose results the API caches: one per family's payload, and
 * the sections it also caches on their own.
 */
export const METHODS = Object.freeze({
  dashboard: 'get_dashboard_stats',
  executions: 'get_execution_stats',
  users: 'get_user_stats',
  summary: '_get_summary_stats',
  trends: '_get_trends_data',
  geographic: '_get_geographic_data',
});

export type KeyParams = Readonly<Record<string, string | readonly string[] | null | undefined>>;

/** Renders one parameter value: lists sorted and comma-joined, absent values as `none`. */
export function keyParamValue(value: string | readonly string[] | null | undefined): string {
  if (value === null || value === undefined || value === '') return 'none';
  if (typeof value === 'string') return value;
  return [...value].sort().join(',');
}

/** Builds the cache key the API would use for `method` called with `params`. */
export function cacheKey(method: string, params: KeyParams): string {
  const names = Object.keys(params).sort();
  const pairs = names.map((name) => `${name}=${keyParamValue(params[name])}`);
  return `${KEY_PREFIX}${method}:${pairs.join('_')}`;
}
