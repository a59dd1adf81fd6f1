/**
 * The golden fixture's expected entries: exactly what the API stored for the golden
 * database at GOLDEN_NOW, by key.
 */
import { readFileSync } from 'node:fs';

export const GOLDEN_EXPECTED = JSON.parse(
  readFileSync(new URL('../fixtures/golden/expected.json', import.meta.url), 'utf8'),
) as Readonly<Record<string, { raw: string; ttl: number }>>;

export const GOLDEN_KEYS: readonly string[] = Object.keys(GOLDEN_EXPECTED).sort();

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
