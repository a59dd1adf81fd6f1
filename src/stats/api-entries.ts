/**
 * Which `stats_service:*` keys the API wrote itself, and what each is to the drift check: the
 * endpoint it answers for, the sections ours is made of, and the instants its value may stem
 * from. A key that cannot be the API's output (no endpoint's method, no expiry, not a string)
 * is a stray key: a problem to name, never drift. Pure: src/io/drift-store.ts reads the keys.
 */
import type { Evidence, Fingerprint } from '../io/drift-store.js';
import type { KeyMeta } from '../io/metadata.js';
import { compareText } from '../lib/compare.js';
import type { Family } from '../requests/batches.js';
import { readApiKey } from '../requests/key-parser.js';
import { CACHED_SECTIONS } from '../requests/request-keys.js';
import { type PayloadPart, partsOf } from './sections.js';

/** The API computes before it writes: its instant may precede the write by this much. */
const COMPUTE_MARGIN_MS = 30_000;
/** A remaining life this much above the API's TTL is still the API's (the clocks of a write and a read). */
const TTL_SLACK_MS = 2_000;
/**
 * Windows are widened to whole minutes: entries written within a minute of each other share
 * their instants, so the pass folds a few more cutoffs, not two per key. A wider window only
 * makes values comparable less often, never wrongly.
 */
const INSTANT_GRID_MS = 60_000;

/** The TTLs the instants are read from. */
export interface CacheTtls {
  /** The API's cache TTL as set (its STATS_API_CACHE_TTL): an upper bound of its real one. */
  readonly apiTtlMs: number;
  /** Ours: a section the API embedded may have been written by us this long before. */
  readonly ourTtlMs: number;
}

export interface Instants {
  readonly lo: Date;
  readonly hi: Date;
}

/** A key the API wrote, and what ours is for it. */
export interface ApiEntry {
  readonly key: string;
  readonly endpoint: Family;
  readonly value: string;
  /** The sections ours is made of (one with field '' for a section the API caches on its own). */
  readonly parts: readonly PayloadPart[];
  /** The instants the API's value may stem from; null when its remaining life says nothing (longer than the API's TTL). */
  readonly instants: Instants | null;
  readonly evidence: Evidence;
}

/** A key the API wrote that stats-refresh cannot read (a parameter added): its own keys for that endpoint are then never read. */
export interface UnreadableKey {
  readonly key: string;
  readonly endpoints: readonly Family[];
  readonly why: string;
  readonly evidence: Evidence;
}

/** A `stats_service:*` key that is not the API's output: named, never drift. */
export interface StrayKey {
  readonly key: string;
  readonly why: string;
}

/** What a key is to the drift check: the endpoints it answers for, and ours (null when its parameters do not read). */
interface KeyTarget {
  readonly endpoints: readonly Family[];
  readonly parts: readonly PayloadPart[] | null;
  readonly why: string;
}

/** The endpoints a key answers for (the sections cached on their own are the dashboard's); null outside `stats_service:`. */
export function targetOf(key: string): KeyTarget | null {
  const read = readApiKey(key);
  if (!read) return null;
  switch (read.kind) {
    case 'payload':
      return { endpoints: [read.family], parts: read.config ? partsOf(read.config) : null, why: 'its parameters do not read as one request the API accepts' };
    case 'section':
      return { endpoints: ['dashboard'], parts: read.period ? [['', { section: read.section, period: read.period }]] : null, why: 'its parameters are not one period' };
    case 'unknown':
      return { endpoints: read.families, parts: null, why: `the method ${JSON.stringify(read.method)} is not one stats-refresh knows` };
  }
}

/** Whether ours embeds sections the API may have read from the cache (written up to a TTL earlier). */
const embedsCachedSections = (parts: readonly PayloadPart[]) =>
  parts.length > 1 && parts.some(([, request]) => (CACHED_SECTIONS as readonly string[]).includes(request.section));

/** The SHA-1 our metadata records for a key we wrote. */
export function recordedSha1(meta: string | null | undefined): string | undefined {
  try {
    const sha1 = (JSON.parse(meta ?? 'null') as Partial<KeyMeta> | null)?.sha1;
    return typeof sha1 === 'string' ? sha1 : undefined;
  } catch {
    return undefined;
  }
}

/** Metadata of a build that recorded no SHA-1: the key is ours while the write it recorded lives. */
function legacyOwn(meta: string | null, nowMs: number): boolean {
  try {
    const { written_at, ttl_seconds } = JSON.parse(meta ?? 'null') as KeyMeta;
    return Date.parse(written_at) + ttl_seconds * 1000 > nowMs;
  } catch {
    return false;
  }
}

/** A `stats_service:*` key as read: what we recorded writing there (KEY_META's field) and its fingerprint. */
export interface ScannedKey {
  readonly key: string;
  readonly meta: string | null;
  readonly print: Fingerprint;
}

/** A key the API wrote: its value is still to be read. */
export interface TheirKey {
  readonly key: string;
  readonly target: KeyTarget;
  readonly evidence: Evidence;
  readonly pttlMs: number;
}

export interface TheirKeys {
  readonly theirs: readonly TheirKey[];
  readonly stray: readonly StrayKey[];
}

/** Whether a key is one of `endpoints`' or no endpoint's (a stray key concerns every run). */
export function concerns(key: string, endpoints: readonly Family[]): boolean {
  const target = targetOf(key);
  return target !== null && (target.endpoints.length === 0 || target.endpoints.some((endpoint) => endpoints.includes(endpoint)));
}

/**
 * Of the scanned keys, those the API wrote (not ours: their value is not the one we recorded
 * writing), and the stray ones: no endpoint's, not a string, or without the expiry every
 * entry the API writes has.
 */
export function theirKeys(scanned: readonly ScannedKey[], now: Date): TheirKeys {
  const theirs: TheirKey[] = [];
  const stray: StrayKey[] = [];
  for (const { key, meta, print } of [...scanned].sort((a, b) => compareText(a.key, b.key))) {
    const target = targetOf(key);
    if (!target) continue;
    if (print.wrongType) {
      stray.push({ key, why: 'it holds no string (a hash, a list…): the API writes none such' });
      continue;
    }
    if (print.sha1 === null) continue; // gone meanwhile
    const recorded = recordedSha1(meta);
    if (recorded === undefined ? legacyOwn(meta, now.getTime()) : recorded === print.sha1) continue;
    if (target.endpoints.length === 0) stray.push({ key, why: `${target.why} and extends no endpoint's method` });
    else if (print.pttlMs < 0) stray.push({ key, why: 'it has no expiry: the API writes every entry with one' });
    else {
      const expires = new Date(now.getTime() + print.pttlMs).toISOString();
      theirs.push({ key, target, pttlMs: print.pttlMs, evidence: { key, sha1: print.sha1, expires_at: expires } });
    }
  }
  return { theirs, stray };
}

/**
 * The instants a value the API wrote may stem from. Its remaining life says when it was
 * written: no earlier than the TTL as set allows, no later than the largest remaining life
 * seen allows (the API's real TTL is at least that, so a setting above the real TTL widens
 * the window instead of moving it). The API computes before it writes, and a payload may
 * embed a section read from the cache, written up to a TTL earlier.
 */
export function instantsOf(pttlMs: number, largestPttlMs: number, parts: readonly PayloadPart[], now: Date, ttls: CacheTtls): Instants | null {
  if (pttlMs <= 0 || pttlMs > ttls.apiTtlMs + TTL_SLACK_MS) return null;
  const earliestWrite = now.getTime() - (ttls.apiTtlMs - pttlMs);
  const latestWrite = now.getTime() - Math.max(0, largestPttlMs - pttlMs);
  const spread = embedsCachedSections(parts) ? Math.max(ttls.apiTtlMs, ttls.ourTtlMs) : 0;
  return {
    lo: new Date(Math.floor((earliestWrite - spread - COMPUTE_MARGIN_MS) / INSTANT_GRID_MS) * INSTANT_GRID_MS),
    hi: new Date(Math.ceil(latestWrite / INSTANT_GRID_MS) * INSTANT_GRID_MS),
  };
}

export interface ApiKeys {
  readonly entries: readonly ApiEntry[];
  readonly unreadable: readonly UnreadableKey[];
  readonly stray: readonly StrayKey[];
  /** Keys with more life left than --api-cache-ttl allows (their values' instants are unknown). */
  readonly longerThanSet: readonly string[];
}

/** The API's keys with their values (absent: gone since) as entries to compare, or keys ours cannot read. */
export function apiKeysOf(found: TheirKeys, values: ReadonlyMap<string, string | null>, now: Date, ttls: CacheTtls): ApiKeys {
  const entries: ApiEntry[] = [];
  const unreadable: UnreadableKey[] = [];
  const possible = found.theirs.filter((key) => key.pttlMs <= ttls.apiTtlMs + TTL_SLACK_MS);
  const largestPttlMs = Math.max(0, ...possible.map((key) => key.pttlMs));
  for (const { key, target, evidence, pttlMs } of found.theirs) {
    const value = values.get(key);
    if (!target.parts) unreadable.push({ key, endpoints: target.endpoints, why: target.why, evidence });
    else if (value !== null && value !== undefined) {
      const instants = instantsOf(pttlMs, largestPttlMs, target.parts, now, ttls);
      entries.push({ key, endpoint: target.endpoints[0]!, value, parts: target.parts, instants, evidence });
    }
  }
  const longer = found.theirs.filter((key) => !possible.includes(key)).map(({ key }) => key);
  return { entries, unreadable, stray: found.stray, longerThanSet: longer };
}

/** What the pass must also fold: each entry's sections at both ends of its window (at `now` when it has none). */
export function entryNeeds(entries: readonly ApiEntry[], now: Date): Array<{ parts: readonly PayloadPart[]; at: Date }> {
  return entries.flatMap((entry) =>
    entry.instants ? [{ parts: entry.parts, at: entry.instants.lo }, { parts: entry.parts, at: entry.instants.hi }] : [{ parts: entry.parts, at: now }],
  );
}

/** Our keys (with the SHA-1 we recorded) of the endpoints yielding, from KEY_META's fields: those to withdraw. */
export function ourKeysOf(meta: Readonly<Record<string, string>>, yielding: ReadonlySet<Family>): Map<string, string> {
  const ours = new Map<string, string>();
  for (const [key, text] of Object.entries(meta)) {
    const target = targetOf(key);
    const sha1 = recordedSha1(text);
    if (target && sha1 && target.endpoints.some((endpoint) => yielding.has(endpoint))) ours.set(key, sha1);
  }
  return ours;
}
