import { describe, expect, it } from 'vitest';
import { cacheKey, KEY_PREFIX, keyParamValue } from '../../src/requests/keys.js';

describe('keyParamValue', () => {
  it('renders absent values as none', () => {
    expect(keyParamValue(null)).toBe('none');
    expect(keyParamValue(undefined)).toBe('none');
    expect(keyParamValue('')).toBe('none');
  });

  it('keeps strings as they are', () => {
    expect(keyParamValue('all')).toBe('all');
    expect(keyParamValue('FAILED')).toBe('FAILED');
    expect(keyParamValue('last_month')).toBe('last_month');
    expect(keyParamValue('none')).toBe('none');
  });

  it('sorts lists and joins them with commas', () => {
    expect(keyParamValue(['trends', 'summary'])).toBe('summary,trends');
    expect(keyParamValue(['tasks', 'geographic', 'trends', 'summary'])).toBe('geographic,summary,tasks,trends');
    expect(keyParamValue(['summary'])).toBe('summary');
  });

  it('sorts by code unit like Python sorted() on str (uppercase before lowercase)', () => {
    expect(keyParamValue(['b', 'B', 'a', 'A'])).toBe('A,B,a,b');
    expect(keyParamValue(['b10', 'b2', 'b1'])).toBe('b1,b10,b2');
  });

  it('does not mutate the list it is given', () => {
    const list = ['trends', 'summary'] as const;
    const copy = [...list];
    keyParamValue(list);
    expect(list).toEqual(copy);
  });
});

describe('cacheKey', () => {
  it('uses the stats_service prefix', () => {
    expect(KEY_PREFIX).toBe('stats_service:');
  });

  it('builds the real dashboard key (include list sorted, params sorted by name)', () => {
    expect(
      cacheKey('get_dashboard_stats', { period: 'all', include: ['summary', 'trends', 'geographic', 'tasks'] }),
    ).toBe('stats_service:get_dashboard_stats:include=geographic,summary,tasks,trends_period=all');
  });

  it('builds the real execution stats key (null task_type and status as none)', () => {
    expect(
      cacheKey('get_execution_stats', { period: 'last_month', group_by: 'day', task_type: null, status: null }),
    ).toBe('stats_service:get_execution_stats:group_by=day_period=last_month_status=none_task_type=none');
  });

  it('builds the real user stats key', () => {
    expect(cacheKey('get_user_stats', { period: 'last_year', group_by: 'month', country: null })).toBe(
      'stats_service:get_user_stats:country=none_group_by=month_period=last_year',
    );
  });

  it('does not depend on the order the params are given in', () => {
    const a = cacheKey('m', { z: '1', a: '2', m: '3' });
    const b = cacheKey('m', { m: '3', z: '1', a: '2' });
    expect(a).toBe('stats_service:m:a=2_m=3_z=1');
    expect(b).toBe(a);
  });

  it('sorts param names by code unit (group_by before period, status before task_type)', () => {
    expect(cacheKey('x', { task_type: 't', status: 's', period: 'p', group_by: 'g' })).toBe(
      'stats_service:x:group_by=g_period=p_status=s_task_type=t',
    );
  });

  it('renders undefined and empty-string params as none', () => {
    expect(cacheKey('x', { b: undefined, a: '' })).toBe('stats_service:x:a=none_b=none');
  });

  it('builds a single-param section key', () => {
    expect(cacheKey('_get_summary_stats', { period: 'last_week' })).toBe('stats_service:_get_summary_stats:period=last_week');
  });

  it('renders a method with no params with an empty tail', () => {
    expect(cacheKey('m', {})).toBe('stats_service:m:');
  });
});
