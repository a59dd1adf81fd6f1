/** The drift state read from its hashes, pure: a field that does not read is a named problem, the rest is read. */
import { expect, it } from 'vitest';
import { parseDriftState } from '../../src/io/drift-store.js';
import { BUILD } from '../../src/lib/version.js';

it('garbage fields are problems naming their key and field; good ones are read', () => {
  const record = { endpoint: 'users', build: BUILD, detected_at: '2026-06-15T12:00:00.000Z', key: 'k', differences: [] };
  const state = parseDriftState({
    drift: { users: JSON.stringify(record), executions: 'garbage', nobody: JSON.stringify({ ...record, endpoint: 'nobody' }) },
    pending: { k: '{"found_at": 1}' },
    counters: { 'not a date': '{}', '2026-06-15T12:00:00.000Z': '{"execution": "1", "user": "1", "script": "1"}' },
  });
  expect([...state.records.keys()]).toEqual(['users']);
  expect(state.history).toHaveLength(1);
  expect(state.problems.map(({ key, field }) => [key, field])).toEqual([
    ['stats_refresh:drift', 'executions'],
    ['stats_refresh:drift', 'nobody'],
    ['stats_refresh:drift:pending', 'k'],
    ['stats_refresh:counters', 'not a date'],
  ]);
  expect(state.problems[0]!.text).toBe('stats_refresh:drift field "executions" is not a drift record; clear --drift removes it');
});
