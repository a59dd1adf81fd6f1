/**
 * Reading the API's cache keys back into requests, for learned coverage. The API joins
 * `name=value` pairs, sorted by name, with `_`, and values may hold `_` and `=` too: a key
 * is read by the known parameter names of its method, every way it can be split is tried,
 * and it counts only when exactly one split gives values the API would accept and the
 * request they make has exactly this key.
 */
import { FAMILIES, type Family, type RefreshConfig } from './batches.js';
import { payloadKey } from './config-keys.js';
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
export function parsePayloadKey(key: string): RefreshConfig | null {
  const family = familyOfKey(key);
  if (!family) return null;
  const names = [...PARAMETERS[family]].sort();
  const text = key.slice(`${KEY_PREFIX}${METHODS[family]}:`.length);
  const readings: RefreshConfig[] = [];
  for (const values of splitParameters(text, names)) {
    // In a key, an absent filter is written `none`.
    const get = (name: string) => {
      const value = values[names.indexOf(name)] ?? null;
      return value === 'none' && ['status', 'task_type', 'country'].includes(name) ? null : value;
    };
    try {
      const config = requestOf(family, get);
      if (payloadKey(config) === key) readings.push(config);
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
    }
  }
  return readings.length === 1 ? readings[0]! : null;
}
