/**
 * Reading the API's cache keys back into requests, for learned coverage. The API joins
 * `name=value` pairs, sorted by name, with `_`, and values may hold `_` and `=` too: a key
 * is read by the known parameter names of its method, every way it can be split is tried,
 * and it counts only when exactly one split gives values the API would accept and the
 * request they make has exactly this key.
 */
import { FAMILIES, type Family, type StatsRequest } from './batches.js';
import { CACHED_SECTIONS, type CachedSection, payloadKey } from './request-keys.js';
import { isPeriod, type Period } from '../lib/time.js';
import { KEY_PREFIX, METHODS } from './keys.js';
import { PARAMETERS, RequestError, requestOf } from './request.js';

/** Every way to read `text` as `names[0]=v0_names[1]=v1_…`, as lists of values. */
export function splitParameters(text: string, names: readonly string[]): string[][] {
  const [name, ...rest] = names;
  if (name === undefined) return text === '' ? [[]] : [];
  const head = `${name}=`;
  if (!text.startsWith(head)) return [];
  const body = text.slice(head.length);
  if (rest.length === 0) return [[body]];
  const separator = `_${rest[0]}=`;
  const splits: string[][] = [];
  for (let at = body.indexOf(separator); at >= 0; at = body.indexOf(separator, at + 1)) {
    for (const tail of splitParameters(body.slice(at + 1), rest)) splits.push([body.slice(0, at), ...tail]);
  }
  return splits;
}

/** The family whose payload `key` is, from its method; null for any other key. */
export function familyOfKey(key: string): Family | null {
  return FAMILIES.find((family) => key.startsWith(`${KEY_PREFIX}${METHODS[family]}:`)) ?? null;
}

/** The request the API stored `key` for, or null when the key does not read as exactly one valid request. */
export function parsePayloadKey(key: string): StatsRequest | null {
  const family = familyOfKey(key);
  if (!family) return null;
  const names = [...PARAMETERS[family]].sort();
  const text = key.slice(`${KEY_PREFIX}${METHODS[family]}:`.length);
  const readings: StatsRequest[] = [];
  for (const values of splitParameters(text, names)) {
    // In a key, an absent filter is written `none`.
    const get = (name: string) => {
      const value = values[names.indexOf(name)] ?? null;
      return value === 'none' && ['status', 'task_type', 'country'].includes(name) ? null : value;
    };
    try {
      const request = requestOf(family, get);
      if (payloadKey(request) === key) readings.push(request);
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
    }
  }
  return readings.length === 1 ? readings[0]! : null;
}

/** What a `stats_service:` key is to us: a family's payload, a section the API caches on its own, or a method we do not know. */
export type ApiKey =
  | { readonly kind: 'payload'; readonly family: Family; readonly config: StatsRequest | null }
  | { readonly kind: 'section'; readonly section: CachedSection; readonly period: Period | null }
  | { readonly kind: 'unknown'; readonly method: string; readonly families: readonly Family[] };

/**
 * The endpoint a method we do not know extends, from its name (a method renamed or split
 * keeps its endpoint's word); none when the name says nothing (`get_foo_stats`, an empty one):
 * such a key is no endpoint's, and one stray key must not speak for all three.
 */
function familiesOfMethod(method: string): Family[] {
  const name = method.toLowerCase();
  if (name.includes('execution')) return ['executions'];
  if (name.includes('user') || name.includes('registration') || name.includes('activity')) return ['users'];
  if (['dashboard', 'summary', 'trend', 'geographic', 'task'].some((word) => name.includes(word))) return ['dashboard'];
  return [];
}

/**
 * Reads a key of the API's cache; a payload or section key whose parameters do not read as
 * one request has a null request or period. Null for a key outside `stats_service:`.
 */
export function readApiKey(key: string): ApiKey | null {
  if (!key.startsWith(KEY_PREFIX)) return null;
  const family = familyOfKey(key);
  if (family) return { kind: 'payload', family, config: parsePayloadKey(key) };
  const method = key.slice(KEY_PREFIX.length).split(':')[0] ?? '';
  const section = CACHED_SECTIONS.find((candidate) => METHODS[candidate] === method);
  if (section) {
    const period = key.slice(`${KEY_PREFIX}${method}:period=`.length);
    const valid = key.startsWith(`${KEY_PREFIX}${method}:period=`) && isPeriod(period);
    return { kind: 'section', section, period: valid ? period : null };
  }
  return { kind: 'unknown', method, families: familiesOfMethod(method) };
}
