/**
 * A run's result: one record per request, and the run around them. The stdout summary, the
 * `stats_refresh:` metadata, the metrics and schedule's watched keys are projections of it.
 */
import type { DriftRecord } from '../io/drift-store.js';
import type { KeyMeta, FamilyRun } from '../io/metadata.js';
import type { FamilyOutcome } from '../io/metrics.js';
import { requestsFor, type Family, type StatsRequest } from '../requests/batches.js';

/** Why a request is in the run: its family's batch, a request given, or a request learned from the cache. */
export type RequestOrigin = 'batch' | 'request' | 'learned';

export interface PlannedRequest {
  readonly request: StatsRequest;
  readonly origin: RequestOrigin;
}

/**
 * Why a request failed, as data. `compute`: a source it reads failed or a column it reads was
 * refused; `yielded`: its endpoint yields to the API (drift); `write`: a key it needs was not
 * written; `lock`: its family's lock could not be taken.
 */
export type RequestErrorKind = 'compute' | 'yielded' | 'write' | 'lock';

export interface RequestError {
  readonly kind: RequestErrorKind;
  /** The key left as it was: the one whose write failed, else the payload's. */
  readonly key: string;
  /** One line, secrets hidden: what the summary, the metadata and the logs say. */
  readonly message: string;
}

export interface RequestResult extends PlannedRequest {
  readonly family: Family;
  /** e.g. `dashboard/all[summary,trends]`. */
  readonly label: string;
  /** The payload's key. */
  readonly key: string;
  /**
   * The keys this request was the first to hold (its payload's, and sections the API caches
   * on their own) that were written, or computed on a dry run. A failed request may hold
   * some: a section is written whenever it computed.
   */
  readonly written: readonly string[];
  /** Why it failed; null when it succeeded. */
  readonly error: RequestError | null;
  /** When its payload was ready, in ms since the run started. */
  readonly computeMs: number;
}

/** A family whose keys were kept (TTL renewed) instead of computed: nothing changed since they were. */
export interface UnchangedFamily {
  /** The instant the kept values were computed for (ISO). */
  readonly as_of: string;
  /** The last millisecond they stay exact at, the data unchanged (ISO); null: no time bound. */
  readonly valid_until: string | null;
  /** Keys renewed. */
  readonly keys: number;
}

export interface RefreshRun {
  readonly command: string;
  readonly now: Date;
  readonly startedAt: Date;
  readonly dryRun: boolean;
  readonly ttlSeconds: number;
  readonly durationMs: number;
  /** SQL statements sent, retries included. */
  readonly statements: number;
  /** The wall time of the statements that answered, added up, in ms (they overlap with --concurrency above 1): schedule's database budget. */
  readonly dbMs: number;
  /** Families whose batch ran (their lock taken). */
  readonly families: readonly Family[];
  /** Families not run: another run held their lock. */
  readonly skipped: readonly Family[];
  /** The shutdown signal that cut the run short, if one did. */
  readonly interrupted: string | null;
  readonly results: readonly RequestResult[];
  /** Dry run only: every entry that would be written, by key. */
  readonly payloads: ReadonlyMap<string, string> | null;
  /** The SHA-1 of each value written: our metadata records it, and the drift check tells our keys by it. */
  readonly sha1: ReadonlyMap<string, string>;
  /** The endpoints with drift recorded (src/run/drift-check.ts), as the run left them. */
  readonly drift: ReadonlyMap<Family, DriftRecord>;
  /** Families not computed because nothing changed (src/run/unchanged.ts). */
  readonly unchanged?: ReadonlyMap<Family, UnchangedFamily>;
}

/** A failed request as the summary and `stats_refresh:last_run:<family>` show it. */
export interface RequestFailure {
  /** The request's label (the field's name is what users and dashboards read). */
  readonly config: string;
  readonly error: string;
}

/** The run summary printed on stdout (one JSON line). */
export interface RefreshSummary {
  command: string;
  now: string;
  dry_run: boolean;
  total_refreshed: number;
  successful: number;
  failed: number;
  cache_keys: string[];
  failures: RequestFailure[];
  duration_ms: number;
  statements: number;
  interrupted?: string;
  skipped?: Family[];
  learned?: number;
  /** The families whose keys were kept, not computed: nothing changed since they were. */
  unchanged?: Partial<Record<Family, UnchangedFamily>>;
  payloads?: Record<string, unknown>;
}

export const failuresOf = (run: RefreshRun): RequestFailure[] =>
  run.results.flatMap((result) => (result.error === null ? [] : [{ config: result.label, error: result.error.message }]));

export const writtenKeysOf = (run: RefreshRun): string[] => run.results.flatMap((result) => result.written);

export function summaryOf(run: RefreshRun): RefreshSummary {
  const failures = failuresOf(run);
  const learned = run.results.filter((result) => result.origin === 'learned').length;
  return {
    command: run.command,
    now: run.now.toISOString(),
    dry_run: run.dryRun,
    total_refreshed: run.results.length,
    successful: run.results.length - failures.length,
    failed: failures.length,
    cache_keys: writtenKeysOf(run),
    failures,
    duration_ms: run.durationMs,
    statements: run.statements,
    ...(run.interrupted ? { interrupted: run.interrupted } : {}),
    ...(run.skipped.length > 0 ? { skipped: [...run.skipped] } : {}),
    ...(learned > 0 ? { learned } : {}),
    ...(run.unchanged?.size ? { unchanged: Object.fromEntries(run.unchanged) } : {}),
    ...(run.payloads ? { payloads: Object.fromEntries([...run.payloads].map(([key, value]) => [key, JSON.parse(value)])) } : {}),
  };
}

/** What `stats_refresh:keys` records of each written key. */
export function keyMetaOf(run: RefreshRun, writtenAt: Date): Map<string, KeyMeta> {
  return new Map(
    run.results.flatMap((result) =>
      result.written.map(
        (key) =>
          [
            key,
            { written_at: writtenAt.toISOString(), compute_ms: result.computeMs, ttl_seconds: run.ttlSeconds, sha1: run.sha1.get(key), as_of: run.now.toISOString() },
          ] as const,
      ),
    ),
  );
}

/** The last run of each family whose batch ran, as `stats_refresh:last_run:<family>` records it. */
export function familyRunsOf(run: RefreshRun): FamilyRun[] {
  return run.families.map((family) => {
    const own = run.results.filter((result) => result.family === family);
    const failures = failuresOf({ ...run, results: own });
    return {
      family,
      started_at: run.startedAt.toISOString(),
      duration_ms: run.durationMs,
      now: run.now.toISOString(),
      successful: own.length - failures.length,
      failed: failures.length,
      failures,
    };
  });
}

/**
 * One outcome per family run or skipped, for the metrics. A multi-family run shares its
 * statements between families, so its duration and statements are the whole run's.
 */
export function outcomesOf(run: RefreshRun, finishedAt: Date): FamilyOutcome[] {
  const whole = { finishedAt, durationSeconds: run.durationMs / 1000, statements: run.statements };
  const skipped = run.skipped.map(
    (family): FamilyOutcome => ({
      family,
      result: 'skipped',
      ...whole,
      durationSeconds: 0,
      statements: 0,
      requestsOk: 0,
      requestsFailed: 0,
      keysWritten: 0,
      learnedRequests: 0,
      drift: run.drift.has(family),
    }),
  );
  const ran = run.families.map((family): FamilyOutcome => {
    const own = run.results.filter((result) => result.family === family);
    const failed = own.filter((result) => result.error !== null).length;
    return {
      family,
      result: failed > 0 || run.interrupted !== null ? 'failed' : 'ok',
      ...whole,
      requestsOk: own.length - failed,
      requestsFailed: failed,
      keysWritten: own.reduce((sum, result) => sum + result.written.length, 0),
      learnedRequests: own.filter((result) => result.origin === 'learned').length,
      drift: run.drift.has(family),
    };
  });
  const unchanged = [...(run.unchanged?.keys() ?? [])].map(
    (family): FamilyOutcome => ({
      family,
      result: 'unchanged',
      ...whole,
      requestsOk: 0,
      requestsFailed: 0,
      keysWritten: 0,
      learnedRequests: 0,
      drift: null,
    }),
  );
  return [...ran, ...unchanged, ...skipped];
}

/** Outcomes of a run that could not start (Redis down when taking the locks): every request failed. */
export function failedOutcomes(families: readonly Family[], finishedAt: Date, durationSeconds: number): FamilyOutcome[] {
  return families.map((family) => ({
    family,
    result: 'failed',
    finishedAt,
    durationSeconds,
    statements: 0,
    requestsOk: 0,
    requestsFailed: requestsFor([family]).length,
    keysWritten: 0,
    learnedRequests: 0,
    drift: null,
  }));
}

/** The payload keys of the learned requests the run refreshed, by family: schedule watches them too. */
export function learnedKeysOf(run: RefreshRun): Map<string, Family> {
  return new Map(run.results.filter((result) => result.origin === 'learned').map((result) => [result.key, result.family]));
}
