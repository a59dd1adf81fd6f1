/**
 * The users family: `get_user_stats` payloads (registration trends, geographic
 * distribution and activity).
 */
import { bucketFunction, floorDiv, isoDayOf, isoMinute, MINUTES_PER_DAY, minuteOf } from '../lib/micros.js';
import type { UsersConfig } from '../requests/batches.js';
import type { Sources } from '../sources.js';
import { dashboardSection } from './dashboard.js';

/** New users per bucket of created_at, ascending, users without created_at last (`date: null`). */
export async function registrationTrends(sources: Sources, config: UsersConfig) {
  const table = await sources.userTable();
  const cutoff = sources.plan.cutoffs[config.period];
  const country = config.country === null ? -1 : table.countries.indexOf(config.country);
  if (config.country !== null && country < 0) return [];
  const bucketOf = bucketFunction(config.groupBy);
  const perBucket = new Map<number, number>();
  let undated = 0;
  for (let row = 0; row < table.count; row++) {
    if (country >= 0 && table.country[row] !== country) continue;
    const created = table.createdAt[row]!;
    if (created !== created) {
      if (cutoff === null) undated++; // NULL created_at only passes a period without cutoff
      continue;
    }
    if (cutoff !== null && !(created >= cutoff)) continue;
    const bucket = bucketOf(minuteOf(created));
    perBucket.set(bucket, (perBucket.get(bucket) ?? 0) + 1);
  }
  // Days, weeks and months are dates; hours and quarter-hours keep their time.
  const label = (minute: number) =>
    config.groupBy === 'hour' || config.groupBy === 'quarter_hour' ? isoMinute(minute) : isoDayOf(floorDiv(minute, MINUTES_PER_DAY));
  const buckets: Array<[string | null, number]> = [...perBucket]
    .sort((a, b) => a[0] - b[0])
    .map(([minute, users]) => [label(minute), users]);
  if (undated > 0) buckets.push([null, undated]);
  let runningTotal = 0;
  return buckets.map(([date, newUsers]) => {
    runningTotal += newUsers;
    return { date, new_users: newUsers, total_users: runningTotal };
  });
}

/** The country row index of each user of the pass (-1: not in "user", or no country), computed once. */
function countriesOfExecutionUsers(sources: Sources): Promise<Int32Array> {
  return sources.memo('user_countries', async () => {
    const [pass, table] = await Promise.all([sources.executions(), sources.userTable()]);
    const users = pass.users!;
    const countries = new Int32Array(users.distinctUsers);
    for (let user = 0; user < countries.length; user++) {
      const row = users.indexIn(table.ids, user);
      const country = row < 0 ? -1 : table.country[row]!;
      countries[user] = country >= 0 && table.countries[country] !== '' ? country : -1;
    }
    return countries;
  });
}

export function activityStats(sources: Sources, config: UsersConfig) {
  return sources.memo(`activity/${config.period}`, async () => {
    const [pass, table, countryOf] = await Promise.all([sources.executions(), sources.userTable(), countriesOfExecutionUsers(sources)]);
    const users = pass.users!;
    const active = users.activeUsers(sources.plan.cutoffs[config.period]);
    // Countries of the active users that "user" holds (the API joins it), NULL and '' left out.
    const countries = new Set<number>();
    for (const user of active) if (countryOf[user]! >= 0) countries.add(countryOf[user]!);
    return {
      active_users_in_period: active.length,
      active_users_countries: countries.size,
      never_executed: Math.max(0, table.count - users.distinctUsers),
    };
  });
}

export async function usersPayload(config: UsersConfig, sources: Sources) {
  const [registration, geographic, activity] = await Promise.all([
    registrationTrends(sources, config),
    dashboardSection(sources, 'geographic', config.period),
    activityStats(sources, config),
  ]);
  return { registration_trends: registration, geographic_distribution: geographic, activity_stats: activity };
}
