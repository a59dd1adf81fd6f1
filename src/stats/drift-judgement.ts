/**
 * What a run's comparisons change in the drift state, pure. A difference one key shows is a
 * piece of evidence for the endpoints it shows at; an endpoint yields once pieces from
 * CORROBORATING_KEYS distinct keys show it (one stray SET must not switch it off). Value
 * differences become evidence only once the tables' change counters prove the data did not
 * change in between; never on a hot standby, where the counters do not move. Evidence lasts
 * until it is withdrawn: its key deleted or rewritten before its TTL would have ended it.
 */
import type {
  ChangeCounters,
  CounterSample,
  Difference,
  DriftRecord,
  DriftState,
  DriftUpdate,
  Evidence,
  PendingDifference,
} from '../io/drift-store.js';
import { BUILD } from '../lib/version.js';
import type { Family } from '../requests/batches.js';
import { readApiKey } from '../requests/key-parser.js';
import type { Comparison } from './api-comparison.js';
import type { UnreadableKey } from './api-entries.js';

/** PostgreSQL's statistics reach pg_stat_user_tables within this long of a commit (PGSTAT_MAX_INTERVAL). */
const STATS_LAG_MS = 60_000;
/** Differences neither proven nor corroborated within this long are dropped; counter samples older than this are pruned. */
const PROOF_WINDOW_MS = 2 * 3600_000;
const MAX_SAMPLES = 100;
/** Distinct keys whose values must show an endpoint's difference before it yields. */
export const CORROBORATING_KEYS = 2;

/** What the catalog says of the data's changes: the tables' counters, and whether the server is a hot standby. */
export interface ChangeProof {
  readonly counters: ChangeCounters;
  readonly standby: boolean;
}

/** Endpoints a difference shows at: the geographic section is the dashboard's and the users'. */
export function endpointsShowing(key: string, endpoint: Family, differences: readonly Difference[]): Family[] {
  const read = readApiKey(key);
  const shared =
    (read?.kind === 'section' && read.section === 'geographic') ||
    differences.some((difference) => /^(geographic|geographic_distribution|countries)\b/.test(difference.path));
  return shared ? [...new Set<Family>([endpoint, 'dashboard', 'users'])] : [endpoint];
}

const equalCounters = (a: ChangeCounters, b: ChangeCounters | null) =>
  b !== null && Object.keys(a).every((table) => a[table as keyof ChangeCounters] !== null && a[table as keyof ChangeCounters] === b[table as keyof ChangeCounters]);

/** Whether the counters prove the data still from before `since` to well after it was found; null: not yet known. */
function proven(pending: PendingDifference, history: readonly CounterSample[], counters: ChangeCounters, now: Date): boolean | null {
  const foundAt = Date.parse(pending.found_at);
  if (now.getTime() - foundAt < STATS_LAG_MS) return null; // the counters may still lag
  if (pending.counters === null || !equalCounters(counters, pending.counters)) return false;
  const before = Date.parse(pending.since) - STATS_LAG_MS;
  return history.some((sample) => Date.parse(sample.at) <= before && equalCounters(sample.counters, pending.counters));
}

/** Whether evidence was withdrawn: its key deleted or rewritten (not by us) before its TTL would have ended it. */
function withdrawnAt(current: ReadonlyMap<string, string | null>, now: Date): (evidence: Evidence) => boolean {
  return (evidence) => {
    const sha1 = current.get(evidence.key);
    return sha1 !== undefined && sha1 !== evidence.sha1 && Date.parse(evidence.expires_at) > now.getTime();
  };
}

/**
 * The records whose every piece of evidence was withdrawn (an operator deleting stray keys):
 * a record does not outlive its evidence. One whose keys expired as the API wrote them stands.
 * Decided when a run starts, before it plans what to compute.
 */
export function withdrawnRecords(state: DriftState, current: ReadonlyMap<string, string | null>, now: Date): Family[] {
  const withdrawn = withdrawnAt(current, now);
  return [...state.records]
    .filter(([, record]) => record.evidence !== undefined && record.evidence.length > 0 && record.evidence.every(withdrawn))
    .map(([endpoint]) => endpoint);
}

/** What one run saw. */
export interface RunEvidence {
  readonly comparisons: readonly Comparison[];
  readonly unreadable: readonly UnreadableKey[];
  /** null: the catalog could not be read. */
  readonly proof: ChangeProof | null;
  readonly now: Date;
  /** The SHA-1 each key of the state's evidence holds now (null: absent); a key not looked up, or holding our value, is left out. */
  readonly current?: ReadonlyMap<string, string | null>;
}

export interface Judgement extends DriftUpdate {
  /** Drift found by this run (not recorded before). */
  readonly found: ReadonlyMap<Family, DriftRecord>;
  /** Value differences the counters proved in this run, the first per endpoint. */
  readonly proven: ReadonlyMap<Family, PendingDifference>;
}

interface Piece {
  readonly key: string;
  readonly endpoints: readonly Family[];
  readonly differences: readonly Difference[];
  readonly evidence: Evidence;
  /** Waiting already, as it should be kept (null: new in this run). */
  readonly waiting: PendingDifference | null;
}

/**
 * The state's changes: drift recorded for endpoints corroborated by enough keys, differences
 * waiting for proof or corroboration, records and waiting differences whose evidence was
 * withdrawn dropped, the counters sampled and old samples pruned.
 */
export function judge(state: DriftState, run: RunEvidence): Judgement {
  const nowMs = run.now.getTime();
  const counters = run.proof && !run.proof.standby ? run.proof.counters : null;
  const withdrawn = withdrawnAt(run.current ?? new Map(), run.now);

  const pieces = new Map<string, Piece>();
  const pending = new Map<string, PendingDifference>();
  const settle: string[] = [];
  const provenNow = new Map<Family, PendingDifference>();
  for (const { key, endpoints, why, evidence } of run.unreadable) {
    const differences = [{ kind: 'structure' as const, path: '(the key)', detail: `a key the API wrote that stats-refresh cannot read: ${why}` }];
    pieces.set(key, { key, endpoints, differences, evidence, waiting: null });
  }
  for (const { entry, shape, values } of run.comparisons) {
    if (shape.length > 0) {
      pieces.set(entry.key, { key: entry.key, endpoints: endpointsShowing(entry.key, entry.endpoint, shape), differences: shape, evidence: entry.evidence, waiting: null });
    } else if (values && values.length > 0 && counters && entry.instants && state.pending.get(entry.key)?.evidence.sha1 !== entry.evidence.sha1) {
      pending.set(entry.key, {
        endpoint: entry.endpoint,
        key: entry.key,
        differences: values,
        found_at: run.now.toISOString(),
        counters,
        since: entry.instants.lo.toISOString(),
        awaits: 'proof',
        evidence: entry.evidence,
      });
    }
  }
  for (const [key, waiting] of state.pending) {
    if (pieces.has(key) || pending.has(key)) continue; // this run's finding replaces it
    if (withdrawn(waiting.evidence) || nowMs - Date.parse(waiting.found_at) > PROOF_WINDOW_MS) {
      settle.push(key);
      continue;
    }
    let standing = waiting;
    if (waiting.awaits === 'proof') {
      const proof = counters ? proven(waiting, state.history, counters, run.now) : false;
      if (proof === null) continue;
      if (!proof) {
        settle.push(key);
        continue;
      }
      standing = { ...waiting, awaits: 'corroboration' };
      if (!provenNow.has(waiting.endpoint)) provenNow.set(waiting.endpoint, waiting);
    }
    const endpoints = endpointsShowing(key, waiting.endpoint, waiting.differences);
    pieces.set(key, { key, endpoints, differences: waiting.differences, evidence: waiting.evidence, waiting: standing });
  }

  const found = new Map<Family, DriftRecord>();
  const byEndpoint = new Map<Family, Piece[]>();
  for (const piece of pieces.values()) {
    for (const endpoint of piece.endpoints) byEndpoint.set(endpoint, [...(byEndpoint.get(endpoint) ?? []), piece]);
  }
  for (const [endpoint, shown] of byEndpoint) {
    if (state.records.has(endpoint) || shown.length < CORROBORATING_KEYS) continue;
    const [first] = shown;
    found.set(endpoint, {
      endpoint,
      build: BUILD,
      detected_at: run.now.toISOString(),
      key: first!.key,
      differences: first!.differences.slice(0, 5),
      evidence: shown.map((piece) => piece.evidence),
    });
  }
  // A piece every endpoint of which is recorded has served; the others wait to be corroborated.
  const recorded = (endpoint: Family) => state.records.has(endpoint) || found.has(endpoint);
  for (const piece of pieces.values()) {
    if (piece.endpoints.every(recorded)) {
      if (state.pending.has(piece.key)) settle.push(piece.key);
      pending.delete(piece.key);
    } else if (piece.waiting === null || piece.waiting !== state.pending.get(piece.key)) {
      pending.set(piece.key, piece.waiting ?? waitingFor(piece, run, counters));
    }
  }

  const prune = state.history
    .filter((sample, index) => nowMs - Date.parse(sample.at) > PROOF_WINDOW_MS || index < state.history.length - MAX_SAMPLES)
    .map((sample) => sample.at);
  return {
    found,
    proven: provenNow,
    record: found,
    pending,
    settle,
    ...(counters ? { sample: { at: run.now.toISOString(), counters } } : {}),
    prune,
  };
}

/** A new piece, waiting for another key to corroborate it. */
function waitingFor(piece: Piece, run: RunEvidence, counters: ChangeCounters | null): PendingDifference {
  return {
    endpoint: piece.endpoints[0]!,
    key: piece.key,
    differences: piece.differences,
    found_at: run.now.toISOString(),
    counters,
    since: run.now.toISOString(),
    awaits: 'corroboration',
    evidence: piece.evidence,
  };
}

/** The error a request of a yielding endpoint fails with. */
export function driftError(record: DriftRecord): Error {
  const paths = record.differences.map((difference) => difference.path).join(', ');
  return new Error(
    `drift: the API's ${record.endpoint} payloads differ from what stats-refresh computes (${paths}); yielding to the API (stats-refresh verify tells more; clear --drift resumes)`,
  );
}
