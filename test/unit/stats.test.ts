/**
 * The stats modules as pure functions of hand-made data: each section computed from a few
 * rows whose answer is worked out here, from the contract.
 */
import { describe, expect, it } from 'vitest';
import { pyJson } from '../../src/lib/pyjson.js';
import { summarySection, tasksSection, trendsSection } from '../../src/stats/dashboard.js';
import { taskPerformance, timeSeries, topUsers } from '../../src/stats/executions.js';
import { geographicSection } from '../../src/stats/geographic.js';
import { activityStats, registrationTrends } from '../../src/stats/users.js';
import { Assembler } from '../../src/stats/assemble.js';
import { sinceOf } from '../../src/stats/sections.js';
import { type ExecutionRow, referenceData, type Rows, type UserRow } from '../helpers/reference-data.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const us = (iso: string) => (Date.parse(iso) - Date.parse('2000-01-01T00:00:00Z')) * 1000;
const MINUTE = 60_000_000;
const DAY_AGO = sinceOf('last_day', NOW);
const WEEK_AGO = sinceOf('last_week', NOW);

const SCRIPTS = [
  { id: '00000000-0000-4000-8000-000000000001', slug: 'productivity-1-0-3' },
  { id: '00000000-0000-4000-8000-000000000002', slug: 'land-cover-v2-1' },
  { id: '00000000-0000-4000-8000-000000000003', slug: 'sdg-15-3-1-sub-indicators-2-1-0' },
];
const [PROD, LAND, SDG] = SCRIPTS.map((script) => script.id) as [string, string, string];
const USER_A = '0000000a-0000-4000-8000-000000000000';
const USER_B = '0000000b-0000-4000-8000-000000000000';
const USER_C = '0000000c-0000-4000-8000-000000000000';

const user = (id: string, country: string | null, created: string | null): UserRow => ({
  id,
  email: `${id.slice(7, 8)}@example.org`,
  country,
  createdAt: created === null ? null : us(created),
});
const run = (fields: Partial<ExecutionRow> & { start?: number | null; at?: string; minutes?: number }): ExecutionRow => {
  const start = fields.at === undefined ? (fields.start ?? null) : us(fields.at);
  return {
    start,
    end: fields.minutes === undefined || start === null ? (fields.end ?? null) : start + fields.minutes * MINUTE,
    status: fields.status ?? null,
    scriptId: fields.scriptId ?? null,
    userId: fields.userId ?? null,
  };
};

const ROWS: Rows = {
  scripts: SCRIPTS,
  users: [
    user(USER_A, 'Kenya', '2026-06-15T10:05:00Z'),
    user(USER_B, 'Brazil', '2026-06-10T00:00:00Z'),
    user(USER_C, '', '2025-01-01T00:00:00Z'),
    user('0000000d-0000-4000-8000-000000000000', null, null),
  ],
  executions: [
    run({ at: '2026-06-15T11:10:00Z', minutes: 3, status: 'FINISHED', scriptId: PROD, userId: USER_A }),
    run({ at: '2026-06-15T11:50:00Z', minutes: 2, status: 'FAILED', scriptId: PROD, userId: USER_A }),
    run({ at: '2026-06-15T12:00:00Z', status: 'RUNNING', scriptId: LAND, userId: USER_B }),
    run({ at: '2026-06-12T09:00:00Z', minutes: 10, status: 'FINISHED', scriptId: LAND, userId: USER_B }),
    run({ at: '2026-06-01T00:00:00Z', minutes: 1, status: 'CANCELLED', scriptId: SDG, userId: USER_A }),
    run({ at: '2026-06-15T12:30:00Z', status: null, scriptId: null, userId: USER_C }),
    run({ status: 'PENDING', scriptId: PROD, userId: USER_C }), // no start
  ],
};
const DATA = referenceData(ROWS);

/** A value as the API stores it, parsed back (PyFloat, Map become plain JSON). */
const stored = (value: unknown) => JSON.parse(pyJson(value));

describe('dashboard sections', () => {
  it('summary: executions started in the period by status (NULL counts in total), users created in it, every script', () => {
    expect(summarySection(DATA, DAY_AGO)).toEqual({
      total_executions: 4,
      total_jobs: 4,
      total_users: 1,
      total_scripts: 3,
      total_executions_finished: 1,
      total_executions_failed: 1,
      total_executions_cancelled: 0,
    });
    expect(summarySection(DATA, null)).toMatchObject({ total_executions: 7, total_users: 4, total_executions_cancelled: 1 });
  });

  it('trends: hourly for the last 72 h (last_day and all), daily in the period, monthly over 365 days; in that order', () => {
    const lastDay = trendsSection(DATA, 'last_day', NOW);
    expect(Object.keys(lastDay)).toEqual(['hourly_jobs', 'daily_jobs', 'monthly_jobs']);
    // The run of 06-12 09:00 is more than 72 h old.
    expect(lastDay.hourly_jobs).toEqual([
      { hour: '2026-06-15T11:00:00', count: 2 },
      { hour: '2026-06-15T12:00:00', count: 2 },
    ]);
    expect(lastDay.daily_jobs).toEqual([{ date: '2026-06-15', count: 4 }]);
    expect(lastDay.monthly_jobs).toEqual([{ month: '2026-06', count: 6 }]);
    const all = trendsSection(DATA, 'all', NOW);
    expect(Object.keys(all)).toEqual(['hourly_jobs', 'monthly_jobs']);
    expect(Object.keys(trendsSection(DATA, 'last_week', NOW))).toEqual(['daily_jobs', 'monthly_jobs']);
  });

  it('tasks: by normalised task with success rates, by major version over every joined execution', () => {
    expect(stored(tasksSection(DATA, null))).toEqual({
      by_type: [
        { task: 'productivity', count: 3, success_rate: 33.3 },
        { task: 'land-cover', count: 2, success_rate: 50.0 },
        { task: 'sdg-15-3-1-sub-indicators', count: 1, success_rate: 0.0 },
      ],
      by_version: [
        { version: 'unknown', count: 4, percentage: 66.7 },
        { version: '2', count: 2, percentage: 33.3 },
      ],
    });
    expect(pyJson(tasksSection(DATA, DAY_AGO))).toContain('"success_rate": 50.0');
  });

  it('geographic: countries of users created in the period, most first, NULL and "" left out', () => {
    expect(stored(geographicSection(DATA, null))).toEqual({ countries: { Brazil: 1, Kenya: 1 }, total_users: 2 });
    expect(stored(geographicSection(DATA, DAY_AGO))).toEqual({ countries: { Kenya: 1 }, total_users: 1 });
  });
});

describe('executions sections', () => {
  it('time series: by event time (the end of completed runs), UNKNOWN for NULL status, scripts joined', () => {
    const series = stored(timeSeries(DATA, { since: DAY_AGO, groupBy: 'hour', taskType: null, status: null }));
    expect(series).toEqual([
      { timestamp: '2026-06-15T11:00:00', total: 2, by_status: { FINISHED: 1, FAILED: 1 }, by_task: { productivity: 2 } },
      { timestamp: '2026-06-15T12:00:00', total: 1, by_status: { RUNNING: 1 }, by_task: { 'land-cover': 1 } },
    ]);
    const all = stored(timeSeries(DATA, { since: null, groupBy: 'month', taskType: null, status: null }));
    // The run without a start has no event time: its timestamp is null, sorted first.
    expect(all[0]).toEqual({ timestamp: null, total: 1, by_status: { PENDING: 1 }, by_task: { productivity: 1 } });
    expect(stored(timeSeries(DATA, { since: null, groupBy: 'month', taskType: 'land', status: null }))).toEqual([
      { timestamp: '2026-06-01T00:00:00', total: 2, by_status: { FINISHED: 1, RUNNING: 1 }, by_task: { 'land-cover': 2 } },
    ]);
    expect(stored(timeSeries(DATA, { since: WEEK_AGO, groupBy: 'day', taskType: null, status: 'FAILED' }))).toEqual([
      { timestamp: '2026-06-15T00:00:00', total: 1, by_status: { FAILED: 1 }, by_task: { productivity: 1 } },
    ]);
  });

  it('top users: most runs first, ties by id; success rate; favourite tasks over all time, unfiltered', () => {
    expect(stored(topUsers(DATA, null, null))).toEqual([
      { user_id: USER_A, email: 'a@example.org', execution_count: 3, success_rate: 33.3, favorite_tasks: ['productivity', 'sdg-15-3-1-sub-indicators'] },
      { user_id: USER_B, email: 'b@example.org', execution_count: 2, success_rate: 50.0, favorite_tasks: ['land-cover'] },
      { user_id: USER_C, email: 'c@example.org', execution_count: 1, success_rate: 0.0, favorite_tasks: ['productivity'] },
    ]);
    expect(stored(topUsers(DATA, null, 'sdg')).map((entry: { user_id: string }) => entry.user_id)).toEqual([USER_A]);
  });

  it('task performance: executions with both dates, exact average minutes, newest version first', () => {
    const performance = stored(taskPerformance(DATA, null));
    expect(performance).toEqual([
      {
        task: 'productivity',
        total_executions: 2,
        success_rate: 50.0,
        avg_duration_minutes: '2.5',
        versions: [{ version: '1.0.3', total_executions: 2, success_rate: 50.0, avg_duration_minutes: '2.5' }],
        failure_reasons: [],
      },
      {
        task: 'land-cover',
        total_executions: 1,
        success_rate: 100.0,
        avg_duration_minutes: '10.0',
        versions: [{ version: '2-1', total_executions: 1, success_rate: 100.0, avg_duration_minutes: '10.0' }],
        failure_reasons: [],
      },
      {
        task: 'sdg-15-3-1-sub-indicators',
        total_executions: 1,
        success_rate: 0.0,
        avg_duration_minutes: '1.0',
        versions: [{ version: '2.1.0', total_executions: 1, success_rate: 0.0, avg_duration_minutes: '1.0' }],
        failure_reasons: [],
      },
    ]);
  });
});

describe('users sections', () => {
  it('registration trends: per bucket with a running total, undated users last and only without a cutoff', () => {
    expect(registrationTrends(DATA, null, 'month', null)).toEqual([
      { date: '2025-01-01', new_users: 1, total_users: 1 },
      { date: '2026-06-01', new_users: 2, total_users: 3 },
      { date: null, new_users: 1, total_users: 4 },
    ]);
    expect(registrationTrends(DATA, WEEK_AGO, 'hour', null)).toEqual([
      { date: '2026-06-10T00:00:00', new_users: 1, total_users: 1 },
      { date: '2026-06-15T10:00:00', new_users: 1, total_users: 2 },
    ]);
    expect(registrationTrends(DATA, null, 'week', 'Kenya')).toEqual([{ date: '2026-06-15', new_users: 1, total_users: 1 }]);
    expect(registrationTrends(DATA, null, 'day', 'Atlantis')).toEqual([]);
  });

  it('activity: users with a run started in the period, their countries ("" left out), users who never ran one', () => {
    expect(activityStats(DATA, DAY_AGO)).toEqual({ active_users_in_period: 3, active_users_countries: 2, never_executed: 1 });
    expect(activityStats(DATA, WEEK_AGO)).toEqual({ active_users_in_period: 3, active_users_countries: 2, never_executed: 1 });
    expect(activityStats(DATA, null)).toMatchObject({ active_users_in_period: 3 });
  });
});

describe('Assembler', () => {
  it('puts sections under their fields in the API\'s order, whatever the order of include', () => {
    const payload = new Assembler(DATA, NOW).payload({ family: 'dashboard', period: 'all', include: ['tasks', 'summary'] });
    expect(Object.keys(JSON.parse(payload))).toEqual(['summary', 'tasks']);
    const executions = new Assembler(DATA, NOW).payload({ family: 'executions', period: 'all', groupBy: 'day', status: null, taskType: null });
    expect(Object.keys(JSON.parse(executions))).toEqual(['time_series', 'top_users', 'task_performance']);
    const users = new Assembler(DATA, NOW).payload({ family: 'users', period: 'all', groupBy: 'day', country: null });
    expect(Object.keys(JSON.parse(users))).toEqual(['registration_trends', 'geographic_distribution', 'activity_stats']);
  });

  it('writes a payload as serialising it whole would: its sections\' text under their fields', () => {
    const assembler = new Assembler(DATA, NOW);
    const config = { family: 'dashboard', period: 'last_week', include: ['summary', 'trends', 'geographic', 'tasks'] } as const;
    const whole = pyJson({
      summary: summarySection(DATA, WEEK_AGO),
      trends: trendsSection(DATA, 'last_week', NOW),
      geographic: geographicSection(DATA, WEEK_AGO),
      tasks: tasksSection(DATA, WEEK_AGO),
    });
    expect(assembler.payload(config)).toBe(whole);
    expect(assembler.section({ section: 'geographic', period: 'last_week' })).toBe(pyJson(geographicSection(DATA, WEEK_AGO)));
  });

  it('builds each distinct section once', () => {
    let calls = 0;
    const counting = { ...DATA, usersByCountry: (since: number | null) => (calls++, DATA.usersByCountry(since)) };
    const assembler = new Assembler(counting, NOW);
    assembler.payload({ family: 'users', period: 'all', groupBy: 'day', country: null });
    assembler.payload({ family: 'users', period: 'all', groupBy: 'month', country: null });
    assembler.payload({ family: 'dashboard', period: 'all', include: ['geographic'] });
    expect(calls).toBe(1);
  });

  it('fails a payload with the first failed source it reads, and only those that read it', () => {
    const failed = referenceData(ROWS, new Map([['user_table', new Error('query user_table failed: boom')]]));
    const assembler = new Assembler(failed, NOW);
    expect(() => assembler.payload({ family: 'dashboard', period: 'all', include: ['trends', 'geographic'] })).toThrow(/user_table failed: boom/);
    expect(Object.keys(JSON.parse(assembler.payload({ family: 'dashboard', period: 'all', include: ['trends', 'tasks'] })))).toEqual(['trends', 'tasks']);
    expect(() => assembler.section({ section: 'summary', period: 'all' })).toThrow(/boom/);
  });
});
