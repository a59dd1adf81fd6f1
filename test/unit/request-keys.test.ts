import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BATCHES, requestsFor, type StatsRequest } from '../../src/requests/batches.js';
import { CACHED_SECTIONS, cachedSectionsOf, requestLabel, payloadKey, sectionKey } from '../../src/requests/request-keys.js';
import { PERIODS } from '../../src/lib/time.js';

const golden = JSON.parse(
  readFileSync(new URL('../fixtures/golden/expected.json', import.meta.url), 'utf8'),
) as Record<string, { raw: string; ttl: number }>;

const ALL_CONFIGS = requestsFor(['dashboard', 'executions', 'users']);
const SECTIONS = ['summary', 'trends', 'geographic'] as const;

describe('payloadKey', () => {
  it('names a dashboard payload with its sorted include list', () => {
    expect(payloadKey({ family: 'dashboard', period: 'all', include: ['summary', 'trends', 'geographic', 'tasks'] })).toBe(
      'stats_service:get_dashboard_stats:include=geographic,summary,tasks,trends_period=all',
    );
    expect(payloadKey({ family: 'dashboard', period: 'last_year', include: ['trends', 'geographic'] })).toBe(
      'stats_service:get_dashboard_stats:include=geographic,trends_period=last_year',
    );
  });

  it('names an executions payload with status none when unrestricted', () => {
    expect(payloadKey({ family: 'executions', period: 'last_month', groupBy: 'day', status: null, taskType: null })).toBe(
      'stats_service:get_execution_stats:group_by=day_period=last_month_status=none_task_type=none',
    );
  });

  it('names an executions payload restricted to a status', () => {
    expect(payloadKey({ family: 'executions', period: 'last_month', groupBy: 'day', status: 'FAILED', taskType: null })).toBe(
      'stats_service:get_execution_stats:group_by=day_period=last_month_status=FAILED_task_type=none',
    );
  });

  it('names a users payload with country none', () => {
    expect(payloadKey({ family: 'users', period: 'last_year', groupBy: 'month', country: null })).toBe(
      'stats_service:get_user_stats:country=none_group_by=month_period=last_year',
    );
    expect(payloadKey({ family: 'users', period: 'last_day', groupBy: 'quarter_hour', country: null })).toBe(
      'stats_service:get_user_stats:country=none_group_by=quarter_hour_period=last_day',
    );
  });

  it('gives the 26 batch configs 26 distinct keys', () => {
    expect(ALL_CONFIGS).toHaveLength(26);
    expect(new Set(ALL_CONFIGS.map(payloadKey)).size).toBe(26);
  });

  it('gives 12 dashboard, 8 executions and 6 users keys with the right method', () => {
    expect(BATCHES.dashboard.map(payloadKey).every((k) => k.startsWith('stats_service:get_dashboard_stats:'))).toBe(true);
    expect(BATCHES.executions.map(payloadKey).every((k) => k.startsWith('stats_service:get_execution_stats:'))).toBe(true);
    expect(BATCHES.users.map(payloadKey).every((k) => k.startsWith('stats_service:get_user_stats:'))).toBe(true);
  });
});

describe('sectionKey', () => {
  it('names the three cached sections', () => {
    expect(CACHED_SECTIONS).toEqual(['summary', 'trends', 'geographic']);
    expect(sectionKey('summary', 'all')).toBe('stats_service:_get_summary_stats:period=all');
    expect(sectionKey('trends', 'last_day')).toBe('stats_service:_get_trends_data:period=last_day');
    expect(sectionKey('geographic', 'last_year')).toBe('stats_service:_get_geographic_data:period=last_year');
  });

  it('gives 15 distinct keys for 3 sections x 5 periods', () => {
    const keys = SECTIONS.flatMap((s) => PERIODS.map((p) => sectionKey(s, p)));
    expect(new Set(keys).size).toBe(15);
  });
});

describe('the full key set', () => {
  const payloadKeys = ALL_CONFIGS.map(payloadKey);
  const sectionKeys = SECTIONS.flatMap((s) => PERIODS.map((p) => sectionKey(s, p)));
  const all = new Set([...payloadKeys, ...sectionKeys]);

  it('is 41 distinct keys (payloads never collide with sections)', () => {
    expect(all.size).toBe(41);
  });

  it('equals the keys of the golden expected.json', () => {
    expect(Object.keys(golden)).toHaveLength(41);
    expect([...all].sort()).toEqual(Object.keys(golden).sort());
  });

  it('covers every section key the batch configs read through', () => {
    const read = new Set<string>();
    for (const config of ALL_CONFIGS) {
      for (const section of cachedSectionsOf(config)) read.add(sectionKey(section, config.period));
    }
    expect([...read].sort()).toEqual([...sectionKeys].sort());
  });
});

describe('cachedSectionsOf', () => {
  it('keeps a dashboard include order and drops tasks', () => {
    expect(cachedSectionsOf({ family: 'dashboard', period: 'all', include: ['summary', 'trends', 'geographic', 'tasks'] })).toEqual([
      'summary',
      'trends',
      'geographic',
    ]);
    expect(cachedSectionsOf({ family: 'dashboard', period: 'last_year', include: ['trends', 'geographic'] })).toEqual([
      'trends',
      'geographic',
    ]);
    expect(cachedSectionsOf({ family: 'dashboard', period: 'all', include: ['geographic', 'summary'] })).toEqual([
      'geographic',
      'summary',
    ]);
  });

  it('returns nothing for a tasks-only dashboard', () => {
    expect(cachedSectionsOf({ family: 'dashboard', period: 'all', include: ['tasks'] })).toEqual([]);
  });

  it('returns geographic for users and nothing for executions', () => {
    expect(cachedSectionsOf({ family: 'users', period: 'all', groupBy: 'month', country: null })).toEqual(['geographic']);
    expect(cachedSectionsOf({ family: 'executions', period: 'all', groupBy: 'month', status: null, taskType: null })).toEqual([]);
  });
});

describe('requestLabel', () => {
  it('labels dashboard configs with their sorted include list', () => {
    expect(requestLabel({ family: 'dashboard', period: 'all', include: ['summary', 'trends', 'geographic', 'tasks'] })).toBe(
      'dashboard/all[geographic,summary,tasks,trends]',
    );
    expect(requestLabel({ family: 'dashboard', period: 'last_month', include: ['trends', 'summary'] })).toBe(
      'dashboard/last_month[summary,trends]',
    );
  });

  it('labels executions configs, with the status only when there is one', () => {
    expect(requestLabel({ family: 'executions', period: 'last_month', groupBy: 'day', status: null, taskType: null })).toBe(
      'executions/last_month/day',
    );
    expect(requestLabel({ family: 'executions', period: 'last_month', groupBy: 'day', status: 'FAILED', taskType: null })).toBe(
      'executions/last_month/day/status=FAILED',
    );
  });

  it('labels users configs', () => {
    expect(requestLabel({ family: 'users', period: 'last_week', groupBy: 'hour', country: null })).toBe('users/last_week/hour');
  });

  it('gives every batch config a distinct label', () => {
    const labels = ALL_CONFIGS.map((c: StatsRequest) => requestLabel(c));
    expect(new Set(labels).size).toBe(26);
  });
});
