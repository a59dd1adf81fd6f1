/**
 * From commits and what Redis showed to lags: pure functions over the harness's records.
 */
import type { ChangeKind } from './watch.js';

/** One change the writer committed. */
export interface Commit {
  readonly kind: ChangeKind;
  /** 1 for the first change of its kind in this contender's session, 2 for the second, ... */
  readonly ordinal: number;
  /** When COMMIT returned (ms since the epoch). */
  readonly at: number;
  readonly scenario: string;
}

/**
 * The values one watched field took, each with the first poll that saw it: only changes are
 * kept, in the order seen.
 */
export interface FieldHistory {
  readonly key: string;
  readonly kind: ChangeKind;
  readonly field: string;
  /** Its value at the baseline (before the first commit). */
  readonly base: number;
  readonly changes: Array<{ readonly at: number; readonly value: number }>;
}

/** Records a poll's value of a field: appended only when it differs from the last one. */
export function record(history: FieldHistory, at: number, value: number | undefined): void {
  if (value === undefined) return; // the key is missing: nothing shown, nothing taken back
  const last = history.changes.at(-1)?.value ?? history.base;
  if (value !== last) history.changes.push({ at, value });
}

/** The first instant the field showed at least `ordinal` changes of its kind, or null. */
export function firstShown(history: FieldHistory, ordinal: number, until = Infinity): number | null {
  for (const change of history.changes) {
    if (change.at > until) return null;
    if (change.value - history.base >= ordinal) return change.at;
  }
  return null;
}

/** How long one commit took to show: in its first key, and in every affected key. */
export interface CommitLag {
  readonly commit: Commit;
  /** Keys that show changes of the commit's kind. */
  readonly keys: number;
  /** Keys that showed it by the deadline. */
  readonly keysSeen: number;
  /** Commit to the first key showing it (ms), or null when none did. */
  readonly firstKeyMs: number | null;
  /** Commit to the last key showing it (ms): every key shows it; null when one did not by the deadline. */
  readonly everyKeyMs: number | null;
}

/**
 * The lag of each commit: a key shows it when every watched field of that key for the
 * commit's kind has reached the commit's ordinal. Observations after `deadline(commit)` do not
 * count (the commit was not seen within its scenario).
 */
export function commitLags(commits: readonly Commit[], histories: readonly FieldHistory[], deadline: (commit: Commit) => number): CommitLag[] {
  return commits.map((commit) => {
    const byKey = new Map<string, number | null>();
    for (const history of histories) {
      if (history.kind !== commit.kind) continue;
      const shown = firstShown(history, commit.ordinal, deadline(commit));
      const previous = byKey.get(history.key);
      // A key shows the change once all its fields do; a field that never did decides it.
      if (previous === null) continue;
      byKey.set(history.key, shown === null ? null : Math.max(previous ?? -Infinity, shown));
    }
    const seen = [...byKey.values()].filter((value): value is number => value !== null);
    const keys = byKey.size;
    return {
      commit,
      keys,
      keysSeen: seen.length,
      firstKeyMs: seen.length ? Math.max(0, Math.min(...seen) - commit.at) : null,
      everyKeyMs: keys > 0 && seen.length === keys ? Math.max(0, Math.max(...seen) - commit.at) : null,
    };
  });
}

/** The `p`-th percentile (0-100) by nearest rank, or NaN when there are no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Median, minimum and maximum, NaN when empty. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

/** Lag figures of a set of commits, in ms. */
export interface LagSummary {
  readonly committed: number;
  /** Commits every affected key showed by the deadline. */
  readonly seen: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Commit to the first key, median. */
  readonly firstKeyP50: number;
}

export function summarizeLags(lags: readonly CommitLag[]): LagSummary {
  const every = lags.map((lag) => lag.everyKeyMs).filter((value): value is number => value !== null);
  const first = lags.map((lag) => lag.firstKeyMs).filter((value): value is number => value !== null);
  return {
    committed: lags.length,
    seen: every.length,
    p50: percentile(every, 50),
    p99: percentile(every, 99),
    max: every.length ? Math.max(...every) : Number.NaN,
    firstKeyP50: percentile(first, 50),
  };
}

/** A cumulative CPU reading: ms of CPU used by `at`. */
export interface CpuReading {
  readonly at: number;
  readonly cpuMs: number;
}

/**
 * CPU per minute over [from, to): the span cut into whole minutes (a last part shorter than
 * a minute is scaled up, when it is at least a sixth of one, or the whole span is shorter),
 * each the CPU used in it per 60 s; from cumulative readings taken often (the nearest reading
 * at or before each edge).
 */
/** The CPU total read last at or before `instant` (the first reading before any). */
function cpuAt(readings: readonly CpuReading[], instant: number): number {
  let value: number | undefined;
  for (const reading of readings) {
    if (reading.at > instant) break;
    value = reading.cpuMs;
  }
  return value ?? readings[0]?.cpuMs ?? 0;
}

/**
 * CPU a minute over the whole of [from, to): the fair figure for a spiky spender (the cron
 * schedule's runs land in some minutes only, and the median of its minutes hides them).
 */
export function cpuMeanPerMinute(readings: readonly CpuReading[], from: number, to: number): number {
  return to > from ? ((cpuAt(readings, to) - cpuAt(readings, from)) * 60_000) / (to - from) : Number.NaN;
}

export function cpuPerMinute(readings: readonly CpuReading[], from: number, to: number): number[] {
  const valueAt = (instant: number) => cpuAt(readings, instant);
  const minutes: number[] = [];
  for (let start = from; start < to; start += 60_000) {
    const end = Math.min(to, start + 60_000);
    const length = end - start;
    if (length < 10_000 && minutes.length > 0) break;
    minutes.push(((valueAt(end) - valueAt(start)) * 60_000) / length);
  }
  return minutes;
}
