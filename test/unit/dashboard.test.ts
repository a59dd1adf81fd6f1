/**
 * src/stats/dashboard.ts and src/stats/geographic.ts: the dashboard's sections computed from
 * hand-made rows (test/helpers/stats-rows.ts) whose answers are worked out here, from the contract.
 */
import { describe, expect, it } from 'vitest';
import { pyJson } from '../../src/lib/pyjson.js';
import { summarySection, tasksSection, trendsSection } from '../../src/stats/dashboard.js';
import { geographicSection } from '../../src/stats/geographic.js';
import { NOW, DAY_AGO, DATA, stored } from '../helpers/stats-rows.js';

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
