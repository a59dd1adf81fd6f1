/**
 * src/io/learned.ts: which learned requests are active, by window and cap.
 */
import { describe, expect, it } from 'vitest';
import { activeLearned } from '../../src/io/learned.js';

describe('learned requests: the window and the cap', () => {
  const now = new Date('2026-06-15T12:00:00Z');
  const hour = 3_600_000;
  const seen = (hoursAgo: number) =>
    JSON.stringify({ first_seen: '2026-06-01T00:00:00.000Z', last_seen: new Date(now.getTime() - hoursAgo * hour).toISOString() });
  const key = (taskType: string) => `stats_service:get_execution_stats:group_by=day_period=all_status=none_task_type=${taskType}`;
  const entries = {
    [key('a')]: seen(1),
    [key('b')]: seen(30),
    [key('c')]: seen(3),
    [key('d')]: seen(2),
    'stats_service:get_user_stats:country=Kenya_group_by=month_period=all': seen(1),
    'stats_service:get_execution_stats:group_by=15min_period=all_status=none_task_type=x': seen(1),
    [key('e')]: 'not json',
  };

  it('keeps those seen within the window, most recent first, at most max per family', () => {
    const { active, lapsed } = activeLearned(entries, ['executions'], now, { windowMs: 24 * hour, max: 2 });
    expect(active.map((request) => request.key)).toEqual([key('a'), key('d')]);
    expect(active[0]!.lapses_at).toBe('2026-06-16T11:00:00.000Z');
    // Lapsed, unparseable and unreadable entries are forgotten.
    expect(lapsed.sort()).toEqual([key('b'), key('e'), 'stats_service:get_execution_stats:group_by=15min_period=all_status=none_task_type=x'].sort());
  });

  it('only the families asked for', () => {
    const { active } = activeLearned(entries, ['users'], now, { windowMs: 24 * hour, max: 50 });
    expect(active.map((request) => request.family)).toEqual(['users']);
  });
});
