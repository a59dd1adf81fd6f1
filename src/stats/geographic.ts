import type { Period } from '../lib/time.js';
import type { Sources } from '../sources.js';

export interface GeographicSection {
  /** Country → users, most users first. */
  countries: Map<string, number>;
  total_users: number;
}

/**
 * Users per country in the period (the dashboard's geographic section and the users family's
 * distribution): NULL and '' are left out, as the API's filter does; `"   "` counts.
 */
export async function geographicSection(sources: Sources, period: Period): Promise<GeographicSection> {
  const table = await sources.userTable();
  const cutoff = sources.plan.cutoffs[period];
  const perCountry = new Float64Array(table.countries.length);
  for (let row = 0; row < table.count; row++) {
    const country = table.country[row]!;
    if (country >= 0 && (cutoff === null || table.createdAt[row]! >= cutoff)) perCountry[country]!++;
  }
  const counted = table.countries
    .map((country, index) => [country, perCountry[index]!] as const)
    .filter(([country, users]) => users > 0 && country !== '')
    // The API's order among equal counts is undefined; ours is the names' order.
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return {
    countries: new Map(counted),
    total_users: counted.reduce((sum, [, users]) => sum + users, 0),
  };
}
