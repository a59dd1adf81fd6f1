/**
 * Whether the rows in memory show what the change probe saw of the table: its newest start
 * and end, the K-th newest of each (its windows' bounds) and every status's runs in those
 * windows. When they agree after reading only the rows newer than the last read's newest,
 * nothing the probe can see is missing; when they do not, something changed inside the
 * windows (a status moved) and the windows are read.
 */
import { microsOfText } from '../lib/micros.js';
import { type ChangeFingerprint, WINDOW_CAP_FACTOR } from '../pass/change-probe.js';
import type { ExecutionRows } from './execution-rows.js';

/** A probe timestamp as µs (null stays null); undefined when it is not in the probe's shape. */
function micros(text: string | null): number | null | undefined {
  if (text === null) return null;
  return microsOfText(text) ?? undefined;
}

/** Whether the K-th newest of a column is `bound` in rows whose counts at/after and after it are given. */
function kthNewestIs(bound: number | null, atOrAfter: number, after: number, watched: number): boolean {
  // No bound: the probe found fewer than K values, so every non-null one was in its window.
  if (bound === null) return atOrAfter < watched;
  return atOrAfter >= watched && after < watched;
}

export function agreesWithProbe(rows: ExecutionRows, fingerprint: ChangeFingerprint, watched: number): boolean {
  const seen = fingerprint.executions;
  const bounds = [seen.newestStart, seen.newestEnd, seen.startedSince, seen.endedSince].map(micros);
  if (bounds.some((bound) => bound === undefined)) return false;
  const [newestStart, newestEnd, startedSince, endedSince] = bounds as Array<number | null>;
  const view = rows.probeView(startedSince!, endedSince!, WINDOW_CAP_FACTOR * watched);
  if (view.newestStart !== newestStart || view.newestEnd !== newestEnd) return false;
  if (!kthNewestIs(startedSince!, view.startedCount, view.startedAfter, watched)) return false;
  if (!kthNewestIs(endedSince!, view.endedCount, view.endedAfter, watched)) return false;
  if (view.byStatus.size !== seen.byStatus.length) return false;
  return seen.byStatus.every(({ status, started, ended }) => {
    const counted = view.byStatus.get(status);
    return counted !== undefined && counted.started === started && counted.ended === ended;
  });
}
