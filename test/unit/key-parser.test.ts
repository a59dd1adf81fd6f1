/**
 * src/requests/key-parser.ts: cache keys read back into the requests that make them, every
 * accepted parameter value round-tripped.
 */
import { describe, expect, it } from 'vitest';
import type { StatsRequest } from '../../src/requests/batches.js';
import { familyOfKey, parsePayloadKey, splitParameters } from '../../src/requests/key-parser.js';
import { payloadKey } from '../../src/requests/request-keys.js';
import { PERIODS } from '../../src/lib/time.js';

describe('keys parsed back', () => {
  const taskTypes = [null, 'sdg', 'land_cover', 'a=b', 'x_period=all', 'two words', 'ñandú', 'task_type=none', '_', '%'];
  const countries = [null, 'Kenya', 'United States', 'Côte d’Ivoire', 'a_group_by=day', '=', '日本'];
  const configs: StatsRequest[] = [
    ...PERIODS.flatMap((period) => [
      { family: 'dashboard' as const, period, include: ['summary' as const] },
      { family: 'dashboard' as const, period, include: ['geographic' as const, 'summary' as const, 'tasks' as const, 'trends' as const] },
      { family: 'dashboard' as const, period, include: ['tasks' as const, 'tasks' as const] },
    ]),
    ...PERIODS.flatMap((period) =>
      (['quarter_hour', 'hour', 'day', 'week', 'month'] as const).flatMap((groupBy) =>
        [null, 'FAILED'].flatMap((status) => taskTypes.map((taskType) => ({ family: 'executions' as const, period, groupBy, status, taskType }))),
      ),
    ),
    ...PERIODS.flatMap((period) =>
      (['quarter_hour', 'day', 'month'] as const).flatMap((groupBy) => countries.map((country) => ({ family: 'users' as const, period, groupBy, country }))),
    ),
  ];

  it(`round-trips every accepted parameter (${configs.length} requests), values with _, =, spaces and non-ASCII included`, () => {
    for (const original of configs) {
      const key = payloadKey(original);
      const parsed = parsePayloadKey(key);
      expect(parsed, key).not.toBeNull();
      expect(payloadKey(parsed!), key).toBe(key);
      if (original.family !== 'dashboard') expect(parsed, key).toEqual(original);
    }
  });

  it('ignores keys that are not one valid request', () => {
    for (const key of [
      'stats_service:_get_summary_stats:period=all',
      'stats_service:get_dashboard_stats:period=all',
      'stats_service:get_dashboard_stats:include=trends,summary_period=all', // not sorted: the API never writes it
      'stats_service:get_dashboard_stats:include=charts_period=all',
      'stats_service:get_dashboard_stats:include=summary_period=forever',
      'stats_service:get_execution_stats:group_by=15min_period=all_status=none_task_type=none',
      'stats_service:get_execution_stats:group_by=day_period=all_status=READY_task_type=none',
      'stats_service:get_execution_stats:group_by=day_period=all_status=none',
      'stats_service:get_execution_stats:group_by=day_period=all_extra=1_status=none_task_type=none',
      'stats_service:get_user_stats:country=none_group_by=15min_period=all', // the API normalises before keying
      'stats_service:get_user_stats:country=none_group_by=month',
      'stats_refresh:learned',
    ]) {
      expect(parsePayloadKey(key), key).toBeNull();
    }
  });

  it('a task_type that ends like a later parameter is still read one way only', () => {
    const key = 'stats_service:get_execution_stats:group_by=day_period=all_status=none_task_type=a_task_type=b';
    expect(parsePayloadKey(key)).toEqual({ family: 'executions', period: 'all', groupBy: 'day', status: null, taskType: 'a_task_type=b' });
  });

  it('splitParameters finds every split', () => {
    expect(splitParameters('a=1_b=2', ['a', 'b'])).toEqual([['1', '2']]);
    expect(splitParameters('a=1_b=2_b=3', ['a', 'b'])).toEqual([['1', '2_b=3'], ['1_b=2', '3']]);
    expect(splitParameters('b=1', ['a', 'b'])).toEqual([]);
  });

  it('names the family of a payload key', () => {
    expect(familyOfKey('stats_service:get_user_stats:country=none_group_by=month_period=all')).toBe('users');
    expect(familyOfKey('stats_service:_get_trends_data:period=all')).toBeNull();
  });
});
