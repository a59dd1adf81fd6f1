/**
 * src/stats/users.ts: the users sections computed from hand-made rows
 * (test/helpers/stats-rows.ts) whose answers are worked out here, from the contract.
 */
import { describe, expect, it } from 'vitest';
import { activityStats, registrationTrends } from '../../src/stats/users.js';
import { DAY_AGO, WEEK_AGO, DATA } from '../helpers/stats-rows.js';

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
