/**
 * The terminal view of a run (src/commands/summary-table.ts), from hand-made records: a row
 * per family with its counts, a total, every failure with its request and reason, and the
 * notes (skipped, interrupted, dry run).
 */
import { describe, expect, it } from 'vitest';
import { durationText, formatRunSummary } from '../../src/commands/summary-table.js';
import { requestsFor, type StatsRequest } from '../../src/requests/batches.js';
import { payloadKey, requestLabel } from '../../src/requests/request-keys.js';
import type { RefreshRun, RequestResult } from '../../src/run/results.js';
import { computeError, requestResult } from '../helpers/run-records.js';

const NOW = new Date('2026-06-15T12:34:56Z');

const failure = computeError;
const result = requestResult;

function run(results: RequestResult[], over: Partial<RefreshRun> = {}): RefreshRun {
  return {
    command: 'refresh all',
    now: NOW,
    startedAt: NOW,
    dryRun: false,
    ttlSeconds: 300,
    durationMs: 1412,
    statements: 5,
    dbMs: 900,
    families: ['dashboard', 'executions', 'users'],
    skipped: [],
    interrupted: null,
    results,
    payloads: null,
    sha1: new Map(),
    drift: new Map(),
    ...over,
  };
}

/** A table's rows as their cells, whatever the spacing. */
function rowsOf(text: string): string[][] {
  return text.split('\n').map((line) => line.trim().split(/\s{2,}/));
}

const [dashboard0, dashboard1] = requestsFor(['dashboard']) as [StatsRequest, StatsRequest];
const [executions0] = requestsFor(['executions']) as [StatsRequest];
const [users0, users1] = requestsFor(['users']) as [StatsRequest, StatsRequest];
const REASON = 'query user_table failed: column "country" of relation "user" does not exist';

describe('formatRunSummary', () => {
  const failed = run([
    result(dashboard0, { written: [payloadKey(dashboard0), 'stats_service:extra'], computeMs: 900 }),
    result(dashboard1, { error: failure(dashboard1, REASON), written: [], computeMs: 950 }),
    result(executions0, { origin: 'learned', computeMs: 300 }),
    result(users0, { error: failure(users0, REASON), written: [], computeMs: 40 }),
    result(users1, { error: failure(users1, 'redis write failed: OOM'), written: [], computeMs: 45 }),
  ]);
  const text = formatRunSummary(failed);
  const rows = rowsOf(text);

  it('opens with the run in one line: command, instant, counts, keys, time, statements', () => {
    expect(text.split('\n')[0]).toBe(
      'refresh all as of 2026-06-15T12:34:56.000Z: 5 requests, 2 ok, 3 FAILED; 3 keys written; 1.41 s, 5 SQL statements',
    );
  });

  it('has a row per family and a total: requests, ok, failed, learned, keys, when its last payload was ready', () => {
    expect(rows).toContainEqual(['FAMILY', 'REQUESTS', 'OK', 'FAILED', 'LEARNED', 'KEYS', 'READY AFTER']);
    expect(rows).toContainEqual(['dashboard', '2', '1', '1 FAILED', '0', '2', '950 ms']);
    expect(rows).toContainEqual(['executions', '1', '1', '0', '1', '1', '300 ms']);
    expect(rows).toContainEqual(['users', '2', '0', '2 FAILED', '0', '0', '45 ms']);
    expect(rows).toContainEqual(['total', '5', '2', '3 FAILED', '1', '3', '950 ms']);
  });

  it('lists every failure with its request and its reason', () => {
    expect(rows).toContainEqual(['FAILED REQUEST', 'REASON']);
    expect(rows).toContainEqual([requestLabel(dashboard1), REASON]);
    expect(rows).toContainEqual([requestLabel(users0), REASON]);
    expect(rows).toContainEqual([requestLabel(users1), 'redis write failed: OOM']);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('says all ok, and shows no failure table, when nothing failed', () => {
    const ok = formatRunSummary(run([result(executions0, { computeMs: 80 })], { durationMs: 850, families: ['executions'] }));
    expect(ok.split('\n')[0]).toBe('refresh all as of 2026-06-15T12:34:56.000Z: 1 requests, all 1 ok; 1 keys written; 850 ms, 5 SQL statements');
    expect(rowsOf(ok)).toContainEqual(['executions', '1', '1', '0', '0', '1', '80 ms']);
    expect(ok).not.toContain('FAILED REQUEST');
    expect(ok).not.toMatch(/^total/m);
  });

  it('shows a family skipped for its lock, a signal that cut the run short, and a dry run', () => {
    const text = formatRunSummary(
      run([result(executions0)], { families: ['executions'], skipped: ['users'], interrupted: 'SIGTERM', dryRun: true }),
    );
    expect(rowsOf(text)).toContainEqual(['users', '-', '-', '-', '-', '-', 'skipped: another run holds its lock']);
    expect(text).toContain('Skipped, another run holds their lock: users.');
    expect(text).toContain('Interrupted by SIGTERM');
    expect(text).toContain('1 keys computed (dry run: nothing written)');
    expect(text).toContain('--json prints every payload');
  });

  it('shows a family that ran with nothing to do as zeros', () => {
    expect(rowsOf(formatRunSummary(run([], { families: ['users'] })))).toContainEqual(['users', '0', '0', '0', '0', '0', '0 ms']);
  });

  it('names each unchanged family with its instant and horizon', () => {
    const unchanged = new Map([
      ['users', { as_of: '2026-06-15T12:34:56.000Z', valid_until: '2026-06-15T12:37:14.569Z', keys: 11 }],
      ['executions', { as_of: '2026-06-15T12:34:56.000Z', valid_until: null, keys: 8 }],
    ] as const);
    const text = formatRunSummary(run([], { families: [], statements: 1, unchanged }));
    expect(text).toContain("Unchanged: users's 11 keys kept (TTL renewed, no table read), exact as of 2026-06-15T12:34:56.000Z until 2026-06-15T12:37:14.569Z.");
    expect(text).toContain("Unchanged: executions's 8 keys kept (TTL renewed, no table read), exact as of 2026-06-15T12:34:56.000Z until the data changes.");
  });
});

describe('durationText', () => {
  it('prints milliseconds under a second and seconds with two decimals above', () => {
    expect(durationText(0)).toBe('0 ms');
    expect(durationText(999)).toBe('999 ms');
    expect(durationText(1000)).toBe('1.00 s');
    expect(durationText(61_234)).toBe('61.23 s');
  });
});
