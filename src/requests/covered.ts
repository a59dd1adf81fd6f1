/** The keys the batches write, as data: what `status` lists and `schedule` watches. */
import { BATCHES, FAMILIES, type Family } from './batches.js';
import { cachedSectionsOf, payloadKey, sectionKey } from './request-keys.js';

/**
 * Every key the batches write, then the `extra` keys (learned requests'), with the first
 * family that writes each.
 */
export function coveredKeys(extra: ReadonlyMap<string, Family> = new Map()): Map<string, Family> {
  const keys = new Map<string, Family>();
  const cover = (key: string, family: Family) => {
    if (!keys.has(key)) keys.set(key, family);
  };
  for (const family of FAMILIES) {
    for (const request of BATCHES[family]) {
      cover(payloadKey(request), family);
      for (const section of cachedSectionsOf(request)) cover(sectionKey(section, request.period), family);
    }
  }
  for (const [key, family] of extra) cover(key, family);
  return keys;
}
