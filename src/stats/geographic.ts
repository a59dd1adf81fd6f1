import { compareText } from '../lib/compare.js';
import type { RunData, Since } from '../pass/run-data.js';

export interface GeographicSection {
  /** Country → users, most users first. */
  countries: Map<string, number>;
  total_users: number;
}

/**
 * Users per country created since the window (the dashboard's geographic section and the
 * users family's distribution): NULL and '' are left out, as the API's filter does; `"   "` counts.
 */
export function geographicSection(data: RunData, since: Since): GeographicSection {
  const counted = [...data.usersByCountry(since)]
    .filter(([country]) => country !== '')
    // The API's order among equal counts is undefined; ours is the names' order.
    .sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]));
  return {
    countries: new Map(counted),
    total_users: counted.reduce((sum, [, users]) => sum + users, 0),
  };
}
