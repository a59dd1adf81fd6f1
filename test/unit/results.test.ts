/**
 * A run's result and its projections: the stdout summary, the metadata, the metrics'
 * outcomes and the learned keys schedule watches, from hand-made records.
 */
import { describe, expect, it } from 'vitest';
import { requestsFor, type StatsRequest } from '../../src/requests/batches.js';
import { payloadKey } from '../../src/requests/request-keys.js';
import { coveredKeys } from '../../src/requests/covered.js';
import {
  type RequestResult,
  familyRunsOf,
  keyMetaOf,
  learnedKeysOf,
  outcomesOf,
  type RefreshRun,
  summaryOf,
} from '../../src/run/results.js';
import { computeError, requestResult } from '../helpers/run-records.js';

const NOW = new Date('2026-06-15T12:34:56Z');

const result = requestResult;

function run(results: RequestResult[], over: Partial<RefreshRun> = {}): RefreshRun {
  return {
    command: 'refresh all',
    now: NOW,
    startedAt: new Date('2026-06-15T12:35:00Z'),
    dryRun: false,
    ttlSeconds: 300,
    durationMs: 1500,
    statements: 4,
    families: ['dashboard', 'executions', 'users'],
    skipped: [],
    dbMs: 0,
    interrupted: null,
    results,
    payloads: null,
    sha1: new Map(),
    drift: new Map(),
    ...over,
  };
}

const [users0, users1] = requestsFor(['users']) as [StatsRequest, StatsRequest];
const learned: StatsRequest = { family: 'executions', period: 'all', groupBy: 'week', status: null, taskType: 'sdg' };

describe('summaryOf', () => {
  it('counts configs, lists the written keys and the failures, and says what was skipped and learned', () => {
    const summary = summaryOf(
      run(
        [
          result(users0, { written: [payloadKey(users0), 'stats_service:_get_geographic_data:period=last_year'] }),
          result(users1, { written: [], error: computeError(users1, 'query user_table failed: boom') }),
          result(learned, { origin: 'learned' }),
        ],
        { skipped: ['dashboard'], families: ['executions', 'users'] },
      ),
    );
    expect(summary).toEqual({
      command: 'refresh all',
      now: NOW.toISOString(),
      dry_run: false,
      total_refreshed: 3,
      successful: 2,
      failed: 1,
      cache_keys: [payloadKey(users0), 'stats_service:_get_geographic_data:period=last_year', payloadKey(learned)],
      failures: [{ config: 'users/last_month/day', error: 'query user_table failed: boom' }],
      duration_ms: 1500,
      statements: 4,
      skipped: ['dashboard'],
      learned: 1,
    });
  });

  it('adds the payloads of a dry run, parsed, and the signal that cut a run short', () => {
    const summary = summaryOf(run([result(users0)], { dryRun: true, payloads: new Map([['k', '{"a": 1.0}']]), interrupted: 'SIGTERM' }));
    expect(summary.payloads).toEqual({ k: { a: 1 } });
    expect(summary.interrupted).toBe('SIGTERM');
  });
});

describe('metadata', () => {
  it('records every written key with its compute time, and the last run of each family that ran', () => {
    const done = run([result(users0, { computeMs: 42 }), result(users1, { written: [], error: computeError(users1, 'x') })], { families: ['users'] });
    expect(keyMetaOf(done, NOW)).toEqual(new Map([[payloadKey(users0), { written_at: NOW.toISOString(), compute_ms: 42, ttl_seconds: 300, as_of: NOW.toISOString() }]]));
    expect(familyRunsOf(done)).toEqual([
      {
        family: 'users',
        started_at: '2026-06-15T12:35:00.000Z',
        duration_ms: 1500,
        now: NOW.toISOString(),
        successful: 1,
        failed: 1,
        failures: [{ config: 'users/last_month/day', error: 'x' }],
      },
    ]);
  });
});

describe('outcomesOf', () => {
  it('one outcome per family run or skipped; the run\'s duration and statements under each family run', () => {
    const outcomes = outcomesOf(
      run(
        [
          result(users0, { written: [payloadKey(users0), 'stats_service:_get_geographic_data:period=last_year'] }),
          result(users1, { written: [], error: computeError(users1, 'x') }),
          result(learned, { origin: 'learned' }),
        ],
        { families: ['executions', 'users'], skipped: ['dashboard'] },
      ),
      NOW,
    );
    expect(outcomes).toEqual([
      { family: 'executions', result: 'ok', finishedAt: NOW, durationSeconds: 1.5, statements: 4, requestsOk: 1, requestsFailed: 0, keysWritten: 1, learnedRequests: 1, drift: false },
      { family: 'users', result: 'failed', finishedAt: NOW, durationSeconds: 1.5, statements: 4, requestsOk: 1, requestsFailed: 1, keysWritten: 2, learnedRequests: 0, drift: false },
      { family: 'dashboard', result: 'skipped', finishedAt: NOW, durationSeconds: 0, statements: 0, requestsOk: 0, requestsFailed: 0, keysWritten: 0, learnedRequests: 0, drift: false },
    ]);
  });

  it('an interrupted run is a failed one, even without a failed config', () => {
    const [outcome] = outcomesOf(run(requestsFor(['dashboard']).map((config) => result(config)), { families: ['dashboard'], interrupted: 'SIGTERM' }), NOW);
    expect(outcome).toMatchObject({ result: 'failed', requestsFailed: 0, requestsOk: 12 });
  });

  it('a run of requests alone has no outcome: it is no family\'s run', () => {
    expect(outcomesOf(run([result(learned, { origin: 'request' })], { families: [] }), NOW)).toEqual([]);
  });
});

describe('learned keys', () => {
  it('are the learned requests\' payload keys, which schedule watches beside the 41 covered keys', () => {
    const keys = learnedKeysOf(run([result(users0), result(learned, { origin: 'learned' })]));
    expect(keys).toEqual(new Map([[payloadKey(learned), 'executions']]));
    expect(coveredKeys(keys).get(payloadKey(learned))).toBe('executions');
    expect(coveredKeys().has(payloadKey(learned))).toBe(false);
    expect(coveredKeys().size).toBe(41);
  });
});
