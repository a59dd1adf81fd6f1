/**
 * src/stats/executions.ts: the executions sections computed from hand-made rows
 * (test/helpers/stats-rows.ts) whose answers are worked out here, from the contract.
 */
import { describe, expect, it } from 'vitest';
import { taskPerformance, timeSeries, topUsers } from '../../src/stats/executions.js';
import { DAY_AGO, WEEK_AGO, USER_A, USER_B, USER_C, DATA, stored } from '../helpers/stats-rows.js';

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
