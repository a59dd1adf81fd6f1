/**
 * `verify` for on-call: the same comparison as a run's drift check, on the keys the API
 * wrote that are present now, read-only: nothing is recorded, written or withdrawn.
 */
import { driftSettingsOf } from '../config.js';
import { readDriftState, type Difference, type DriftRecord } from '../io/drift-store.js';
import type { Family } from '../requests/batches.js';
import { DEFAULT_RETRY } from '../lib/retry.js';
import { FAMILIES } from '../requests/batches.js';
import { payloadKey } from '../requests/request-keys.js';
import { compareEntries, type Comparison } from '../stats/api-comparison.js';
import { entryNeeds } from '../stats/api-entries.js';
import { judge } from '../stats/drift-judgement.js';
import { findApiKeys } from './drift-check.js';
import { assemblerOf, checkCatalog, loadSections } from './phases.js';
import type { RedisRuntime } from './runtime.js';
import type { RefreshTargets } from './targets.js';

export type Verdict = 'agree' | 'drift' | 'not comparable';

export interface FamilyReport {
  readonly endpoint: Family;
  readonly verdict: Verdict;
  /** Keys the API wrote for it, and how many were compared (their shape), and their values. */
  readonly api_keys: number;
  readonly compared: number;
  readonly values_compared: number;
  readonly differences: ReadonlyArray<Difference & { readonly key: string }>;
  /** Why it is not comparable, or what could not be compared. */
  readonly notes: readonly string[];
  /** Drift recorded by a run, if any. */
  readonly recorded: DriftRecord | null;
}

export interface VerifyReport {
  readonly now: string;
  readonly endpoints: readonly FamilyReport[];
  /** What in Redis is no payload the API wrote, or does not read, each naming its key. */
  readonly problems: readonly string[];
}

/** Verifies the endpoints of `targets` (all three when null), as of `now`. */
export async function verify(runtime: RedisRuntime, targets: RefreshTargets | null, now: Date): Promise<VerifyReport> {
  const { config, connections } = runtime;
  const { redis } = connections;
  const endpoints = targets ? [...new Set([...targets.families, ...targets.requests.map((request) => request.family)])] : [...FAMILIES];
  const state = await readDriftState(redis);
  const found = await findApiKeys(redis, endpoints, now, driftSettingsOf(config));
  // Requests named: their keys only, besides whole families.
  const named = new Set(targets?.requests.map(payloadKey) ?? []);
  const wanted = (key: string, endpoint: Family) => !targets || targets.families.includes(endpoint) || named.has(key);
  const entries = found.entries.filter((entry) => wanted(entry.key, entry.endpoint));
  const unreadable = found.unreadable.filter((key) => key.endpoints.some((endpoint) => wanted(key.key, endpoint)));

  const catalog = await checkCatalog(connections, { retry: DEFAULT_RETRY });
  // Nothing to judge with: say why rather than call every endpoint not comparable.
  if (catalog.catalog === null) throw catalog.error;
  const { data } = await loadSections(entryNeeds(entries, now), catalog, connections, { concurrency: config.concurrency, retry: DEFAULT_RETRY });
  const comparisons = compareEntries(entries, data, now, assemblerOf(data, catalog));
  // Value differences count only when a run found them earlier and the counters now prove the data still.
  const proven = judge(state, { comparisons: [], unreadable: [], proof: catalog.catalog, now }).proven;
  const problems = [
    ...[...state.problems, ...found.problems].map((problem) => problem.text),
    ...found.stray.map(({ key, why }) => `${key} is no payload the API wrote (${why})`),
    ...comparisons.flatMap(({ entry, problem }) => (problem ? [`${entry.key}: ${problem}`] : [])),
  ];

  return {
    now: now.toISOString(),
    endpoints: endpoints.map((endpoint) => reportOf(endpoint, comparisons, unreadable, proven.get(endpoint) ?? null, state.records.get(endpoint) ?? null)),
    problems,
  };
}

function reportOf(
  endpoint: Family,
  comparisons: readonly Comparison[],
  unreadable: ReadonlyArray<{ key: string; endpoints: readonly Family[]; why: string }>,
  provenValues: Pick<DriftRecord, 'key' | 'differences'> | null,
  recorded: DriftRecord | null,
): FamilyReport {
  const own = comparisons.filter((comparison) => comparison.entry.endpoint === endpoint);
  const foreign = unreadable.filter((key) => key.endpoints.includes(endpoint));
  const differences = [
    ...foreign.map((key) => ({ key: key.key, kind: 'structure' as const, path: '(the key)', detail: `a key the API wrote that stats-refresh cannot read: ${key.why}` })),
    ...own.flatMap((comparison) => comparison.shape.map((difference) => ({ key: comparison.entry.key, ...difference }))),
    ...(provenValues ? provenValues.differences.map((difference) => ({ key: provenValues.key, ...difference })) : []),
  ];
  const compared = own.filter((comparison) => comparison.compared);
  const notes = [
    ...new Set(own.flatMap((comparison) => (comparison.why ? [comparison.why] : []))),
    ...own
      .filter((comparison) => comparison.values && comparison.values.length > 0)
      .map((comparison) => `values differ at ${comparison.entry.key} (${comparison.values!.map((difference) => difference.path).join(', ')}), not proven: the data may have changed since the API computed them; a run proves or drops it within minutes`),
  ];
  const verdict: Verdict = differences.length > 0 ? 'drift' : compared.length > 0 ? 'agree' : 'not comparable';
  return {
    endpoint,
    verdict,
    api_keys: own.length + foreign.length,
    compared: compared.length,
    values_compared: own.filter((comparison) => comparison.values !== null).length,
    differences,
    notes: own.length + foreign.length === 0 ? ['no key the API wrote itself is present now'] : notes,
    recorded,
  };
}
