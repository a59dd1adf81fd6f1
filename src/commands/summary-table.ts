/**
 * A run's summary for a person at a terminal: a line on the whole run, a row per family
 * (requests, ok, failed, keys, when its last payload was ready) and every failure with its
 * request and reason. Piped output keeps the JSON summary (`summaryOf`).
 */
import { textTable } from '../lib/text-table.js';
import { FAMILIES, type Family } from '../requests/batches.js';
import { failuresOf, type RefreshRun, type RequestResult } from '../run/results.js';

/** `850 ms` under a second, `1.41 s` above. */
export function durationText(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

interface Tally {
  requests: number;
  ok: number;
  failed: number;
  learned: number;
  keys: number;
  readyMs: number;
}

function tally(results: readonly RequestResult[]): Tally {
  const failed = results.filter((result) => result.error !== null).length;
  return {
    requests: results.length,
    ok: results.length - failed,
    failed,
    learned: results.filter((result) => result.origin === 'learned').length,
    keys: results.reduce((sum, result) => sum + result.written.length, 0),
    readyMs: results.reduce((latest, result) => Math.max(latest, result.computeMs), 0),
  };
}

function tallyRow(name: string, counts: Tally): string[] {
  const { requests, ok, failed, learned, keys, readyMs } = counts;
  return [name, String(requests), String(ok), failed > 0 ? `${failed} FAILED` : '0', String(learned), String(keys), durationText(readyMs)];
}

/** One row per family that ran or had requests, one per family skipped, and the total. */
function familyRows(run: RefreshRun): string[][] {
  const byFamily = new Map<Family, RequestResult[]>();
  for (const result of run.results) byFamily.set(result.family, [...(byFamily.get(result.family) ?? []), result]);
  const rows = FAMILIES.flatMap((family): string[][] => {
    const own = byFamily.get(family);
    if (own) return [tallyRow(family, tally(own))];
    if (run.skipped.includes(family)) return [[family, '-', '-', '-', '-', '-', 'skipped: another run holds its lock']];
    return run.families.includes(family) ? [tallyRow(family, tally([]))] : [];
  });
  if (byFamily.size > 1) rows.push(tallyRow('total', tally(run.results)));
  return rows;
}

/** The run in one sentence: what, as of when, how many, how long. */
function headline(run: RefreshRun): string {
  const counts = tally(run.results);
  const outcome = counts.failed > 0 ? `${counts.ok} ok, ${counts.failed} FAILED` : `all ${counts.ok} ok`;
  const keys = run.dryRun ? `${counts.keys} keys computed (dry run: nothing written)` : `${counts.keys} keys written`;
  return (
    `${run.command} as of ${run.now.toISOString()}: ${counts.requests} requests, ${outcome}; ${keys}; ` +
    `${durationText(run.durationMs)}, ${run.statements} SQL statements`
  );
}

/** The notes that change how to read the numbers: a family skipped, a signal, a dry run. */
function notes(run: RefreshRun): string[] {
  const lines: string[] = [];
  if (run.skipped.length > 0) lines.push(`Skipped, another run holds their lock: ${run.skipped.join(', ')}.`);
  if (run.interrupted) lines.push(`Interrupted by ${run.interrupted}: requests that had not finished were not written; their keys keep their previous values.`);
  if (run.dryRun) lines.push('Dry run: nothing was written. --json prints every payload.');
  for (const [family, kept] of run.unchanged ?? []) {
    const until = kept.valid_until === null ? 'the data changes' : kept.valid_until;
    lines.push(`Unchanged: ${family}'s ${kept.keys} keys kept (TTL renewed, no table read), exact as of ${kept.as_of} until ${until}.`);
  }
  return lines;
}

/** The terminal view of a run, ending with a newline. */
export function formatRunSummary(run: RefreshRun): string {
  const failures = failuresOf(run);
  const sections = [headline(run)];
  const rows = familyRows(run);
  if (rows.length > 0) sections.push(textTable([['FAMILY', 'REQUESTS', 'OK', 'FAILED', 'LEARNED', 'KEYS', 'READY AFTER'], ...rows]));
  if (failures.length > 0) {
    sections.push(textTable([['FAILED REQUEST', 'REASON'], ...failures.map((failure) => [failure.config, failure.error])]));
  }
  const extra = notes(run);
  if (extra.length > 0) sections.push(extra.join('\n'));
  return `${sections.join('\n\n')}\n`;
}
