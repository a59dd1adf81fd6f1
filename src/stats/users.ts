/**
 * The users family's sections (`get_user_stats`): registration trends and activity; the
 * geographic distribution is the geographic section (geographic.ts).
 */
import { floorDiv, isoDayOf, isoMinute, MINUTES_PER_DAY } from '../lib/micros.js';
import type { RunData, Since } from '../pass/run-data.js';
import type { Granularity } from '../requests/batches.js';

/** New users per bucket of created_at, ascending, users without created_at last (`date: null`), with the running total. */
export function registrationTrends(data: RunData, since: Since, groupBy: Granularity, country: string | null) {
  // Days, weeks and months are dates; hours and quarter-hours keep their time.
  const label = (minute: number) =>
    groupBy === 'hour' || groupBy === 'quarter_hour' ? isoMinute(minute) : isoDayOf(floorDiv(minute, MINUTES_PER_DAY));
  let runningTotal = 0;
  return data.registrations(since, groupBy, country).map(({ bucket, users }) => {
    runningTotal += users;
    return { date: bucket === null ? null : label(bucket), new_users: users, total_users: runningTotal };
  });
}

export function activityStats(data: RunData, since: Since) {
  const active = data.activeUsers(since);
  return {
    active_users_in_period: active.users,
    // The API leaves NULL and '' countries out.
    active_users_countries: [...active.countries].filter((country) => country !== '').length,
    never_executed: Math.max(0, data.userCount(null) - data.executingUsers()),
  };
}
