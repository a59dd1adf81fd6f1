/**
 * The users family: `get_user_stats` payloads (registration trends, geographic
 * distribution and activity).
 */
import type { UsersConfig } from '../requests/batches.js';
import type { Sources } from '../sources.js';
import { dashboardSection } from './dashboard.js';

export async function registrationTrends(sources: Sources, config: UsersConfig) {
  const rows = await sources.registrations();
  const counted = rows
    .filter((row) => row.groupBy === config.groupBy && (row.byPeriod.get(config.period) ?? 0) > 0)
    // Ascending buckets; users without created_at come last, as PostgreSQL sorts NULL.
    .sort((a, b) => (a.bucket === null ? 1 : b.bucket === null ? -1 : a.bucket < b.bucket ? -1 : 1));
  let runningTotal = 0;
  return counted.map((row) => {
    const newUsers = row.byPeriod.get(config.period)!;
    runningTotal += newUsers;
    return { date: row.bucket, new_users: newUsers, total_users: runningTotal };
  });
}

export async function activityStats(sources: Sources, config: UsersConfig) {
  const scan = await sources.userScan();
  const activity = scan.activity.get(config.period);
  return {
    active_users_in_period: activity?.activeUsers ?? 0,
    active_users_countries: activity?.activeCountries ?? 0,
    never_executed: scan.neverExecuted,
  };
}

export async function usersPayload(config: UsersConfig, sources: Sources) {
  const [registration, geographic, activity] = await Promise.all([
    registrationTrends(sources, config),
    dashboardSection(sources, 'geographic', config.period),
    activityStats(sources, config),
  ]);
  return { registration_trends: registration, geographic_distribution: geographic, activity_stats: activity };
}
