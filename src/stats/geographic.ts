import type { Sources } from '../sources.js';
import type { Period } from '../lib/time.js';

export interface GeographicSection {
  /** Country → users, most users first. */
  countries: Map<string, number>;
  total_users: number;
}

/** Users per country in the period (the dashboard's geographic section and the users family's distribution). */
export async function geographicSection(sources: Sources, period: Period): Promise<GeographicSection> {
  const rows = await sources.countries();
  const counted = rows
    .map((row) => [row.country, row.byPeriod.get(period) ?? 0] as const)
    .filter(([, users]) => users > 0)
    .sort((a, b) => b[1] - a[1]);
  return {
    countries: new Map(counted),
    total_users: counted.reduce((sum, [, users]) => sum + users, 0),
  };
}
