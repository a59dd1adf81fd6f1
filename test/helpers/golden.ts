/**
 * The golden fixture's expected entries: exactly what the API stored for the golden
 * database at GOLDEN_NOW, by key.
 */
import { readFileSync } from 'node:fs';

export const GOLDEN_EXPECTED = JSON.parse(
  readFileSync(new URL('../fixtures/golden/expected.json', import.meta.url), 'utf8'),
) as Readonly<Record<string, { raw: string; ttl: number }>>;

export const GOLDEN_KEYS: readonly string[] = Object.keys(GOLDEN_EXPECTED).sort();

/** What the API stored for the golden fixture's 16 extra requests (requests.txt), by key. */
export const REQUESTS_EXPECTED = JSON.parse(
  readFileSync(new URL('../fixtures/golden/requests-expected.json', import.meta.url), 'utf8'),
) as Readonly<Record<string, { raw: string; ttl: number }>>;

/** The API's value for `key`, parsed (numbers by value, strings stay strings). */
export function goldenValue(key: string): unknown {
  const entry = GOLDEN_EXPECTED[key];
  if (!entry) throw new Error(`no golden entry for ${key}`);
  return JSON.parse(entry.raw);
}

/** Every email address in the golden entries (top users), to prove none leaks into logs. */
export const GOLDEN_EMAILS: readonly string[] = [
  ...new Set(
    [...JSON.stringify(GOLDEN_EXPECTED).matchAll(/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g)].map((match) => match[0]),
  ),
];

/**
 * The configs built on the pass over `"user"` (the summary's user count, the geographic
 * section, and every users config): the ones that fail on a copy of the golden database
 * without `"user".country`, which that pass reads. The executions configs read `"user"`
 * only for the top users' emails, and survive.
 */
export const CONFIGS_ON_USER_TABLE: readonly string[] = [
  'dashboard/all[geographic,summary,tasks,trends]',
  'dashboard/all[geographic]',
  'dashboard/all[summary]',
  'dashboard/last_day[geographic,summary,tasks,trends]',
  'dashboard/last_month[geographic,summary,tasks,trends]',
  'dashboard/last_month[summary,trends]',
  'dashboard/last_week[geographic,summary,tasks,trends]',
  'dashboard/last_week[summary]',
  'dashboard/last_year[geographic,summary,tasks,trends]',
  'dashboard/last_year[geographic,trends]',
  'users/all/month',
  'users/last_day/quarter_hour',
  'users/last_month/day',
  'users/last_week/hour',
  'users/last_year/month',
  'users/last_year/week',
].sort();

/**
 * An earlier value of `key` as the API would have stored it: the same shape, every count
 * one more. What "the API" writes in tests where its keys are already there (a real value
 * of the API's, not a placeholder the drift check would rightly call foreign).
 */
export function staleValue(key: string): string {
  const entry = GOLDEN_EXPECTED[key] ?? REQUESTS_EXPECTED[key];
  if (!entry) throw new Error(`no golden entry for ${key}`);
  return entry.raw.replace(/(": )(\d+)(?=[,}\]])/g, (_, head: string, count: string) => `${head}${Number(count) + 1}`);
}
