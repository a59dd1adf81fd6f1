import { describe, expect, it } from 'vitest';
import { BATCHES, requestsFor, DASHBOARD_SECTIONS, FAMILIES, parseFamilies, type StatsRequest } from '../../src/requests/batches.js';

describe('FAMILIES and DASHBOARD_SECTIONS', () => {
  it('lists the three families in order', () => {
    expect([...FAMILIES]).toEqual(['dashboard', 'executions', 'users']);
  });

  it('lists the four dashboard sections', () => {
    expect([...DASHBOARD_SECTIONS]).toEqual(['summary', 'trends', 'geographic', 'tasks']);
  });
});

describe('BATCHES', () => {
  it('holds 12 dashboard, 8 executions and 6 users configs', () => {
    expect(BATCHES.dashboard).toHaveLength(12);
    expect(BATCHES.executions).toHaveLength(8);
    expect(BATCHES.users).toHaveLength(6);
  });

  it('tags every config with the family of its batch', () => {
    for (const family of FAMILIES) {
      for (const config of BATCHES[family]) expect(config.family).toBe(family);
    }
  });

  it('holds the dashboard configs in the contract order', () => {
    expect(BATCHES.dashboard.map((c) => (c.family === 'dashboard' ? [c.period, [...c.include]] : null))).toEqual([
      ['all', ['summary', 'trends', 'geographic', 'tasks']],
      ['last_month', ['summary', 'trends']],
      ['last_week', ['summary']],
      ['last_year', ['trends', 'geographic']],
      ['all', ['summary']],
      ['all', ['trends']],
      ['all', ['geographic']],
      ['all', ['tasks']],
      ['last_day', ['summary', 'trends', 'geographic', 'tasks']],
      ['last_week', ['summary', 'trends', 'geographic', 'tasks']],
      ['last_month', ['summary', 'trends', 'geographic', 'tasks']],
      ['last_year', ['summary', 'trends', 'geographic', 'tasks']],
    ]);
  });

  it('holds the executions configs in the contract order', () => {
    expect(BATCHES.executions).toEqual([
      { family: 'executions', period: 'last_month', groupBy: 'day', status: null, taskType: null },
      { family: 'executions', period: 'last_week', groupBy: 'day', status: null, taskType: null },
      { family: 'executions', period: 'last_year', groupBy: 'month', status: null, taskType: null },
      { family: 'executions', period: 'last_month', groupBy: 'day', status: 'FAILED', taskType: null },
      { family: 'executions', period: 'last_day', groupBy: 'quarter_hour', status: null, taskType: null },
      { family: 'executions', period: 'last_week', groupBy: 'hour', status: null, taskType: null },
      { family: 'executions', period: 'last_year', groupBy: 'week', status: null, taskType: null },
      { family: 'executions', period: 'all', groupBy: 'month', status: null, taskType: null },
    ]);
  });

  it('holds the users configs in the contract order', () => {
    expect(BATCHES.users).toEqual([
      { family: 'users', period: 'last_year', groupBy: 'month', country: null },
      { family: 'users', period: 'last_month', groupBy: 'day', country: null },
      { family: 'users', period: 'all', groupBy: 'month', country: null },
      { family: 'users', period: 'last_day', groupBy: 'quarter_hour', country: null },
      { family: 'users', period: 'last_week', groupBy: 'hour', country: null },
      { family: 'users', period: 'last_year', groupBy: 'week', country: null },
    ]);
  });
});

describe('requestsFor', () => {
  it('returns one family batch in batch order', () => {
    expect(requestsFor(['executions'])).toEqual([...BATCHES.executions]);
    expect(requestsFor(['users'])).toEqual([...BATCHES.users]);
  });

  it('returns all 26 configs for all families, family by family', () => {
    const all = requestsFor(['dashboard', 'executions', 'users']);
    expect(all).toHaveLength(26);
    expect(all.slice(0, 12)).toEqual([...BATCHES.dashboard]);
    expect(all.slice(12, 20)).toEqual([...BATCHES.executions]);
    expect(all.slice(20)).toEqual([...BATCHES.users]);
  });

  it('follows the order of the families it is given', () => {
    const configs = requestsFor(['users', 'dashboard']);
    expect(configs).toHaveLength(18);
    expect(configs.slice(0, 6).every((c: StatsRequest) => c.family === 'users')).toBe(true);
    expect(configs.slice(6).every((c: StatsRequest) => c.family === 'dashboard')).toBe(true);
  });

  it('returns nothing for no families', () => {
    expect(requestsFor([])).toEqual([]);
  });

  it('returns a fresh array that does not alias the batch', () => {
    const configs = requestsFor(['users']);
    configs.pop();
    expect(BATCHES.users).toHaveLength(6);
  });
});

describe('parseFamilies', () => {
  it('parses each family name', () => {
    expect(parseFamilies('dashboard')).toEqual(['dashboard']);
    expect(parseFamilies('executions')).toEqual(['executions']);
    expect(parseFamilies('users')).toEqual(['users']);
  });

  it('parses all as every family in order', () => {
    expect(parseFamilies('all')).toEqual(['dashboard', 'executions', 'users']);
  });

  it('returns a fresh array for all', () => {
    const families = parseFamilies('all')!;
    families.pop();
    expect(parseFamilies('all')).toHaveLength(3);
    expect(FAMILIES).toHaveLength(3);
  });

  it('returns null for anything else', () => {
    for (const name of ['', 'Dashboard', 'ALL', 'user', 'execution', ' users', 'dashboard,users', 'tasks']) {
      expect(parseFamilies(name), name).toBeNull();
    }
  });
});
