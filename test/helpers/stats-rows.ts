/**
 * The hand-made rows the stats unit tests compute sections from (test/unit/dashboard.test.ts,
 * executions.test.ts, users.test.ts, assemble.test.ts): a few scripts, users and executions
 * whose every answer is worked out in those tests, from the contract.
 */
import { pyJson } from '../../src/lib/pyjson.js';
import { sinceOf } from '../../src/stats/sections.js';
import { type ExecutionRow, referenceData, type Rows, type UserRow } from './reference-data.js';

export const NOW = new Date('2026-06-15T12:34:56Z');
const us = (iso: string) => (Date.parse(iso) - Date.parse('2000-01-01T00:00:00Z')) * 1000;
const MINUTE = 60_000_000;
export const DAY_AGO = sinceOf('last_day', NOW);
export const WEEK_AGO = sinceOf('last_week', NOW);

const SCRIPTS = [
  { id: '00000000-0000-4000-8000-000000000001', slug: 'productivity-1-0-3' },
  { id: '00000000-0000-4000-8000-000000000002', slug: 'land-cover-v2-1' },
  { id: '00000000-0000-4000-8000-000000000003', slug: 'sdg-15-3-1-sub-indicators-2-1-0' },
];
const [PROD, LAND, SDG] = SCRIPTS.map((script) => script.id) as [string, string, string];
export const USER_A = '0000000a-0000-4000-8000-000000000000';
export const USER_B = '0000000b-0000-4000-8000-000000000000';
export const USER_C = '0000000c-0000-4000-8000-000000000000';

const user = (id: string, country: string | null, created: string | null): UserRow => ({
  id,
  email: `${id.slice(7, 8)}@example.org`,
  country,
  createdAt: created === null ? null : us(created),
});
const run = (fields: Partial<ExecutionRow> & { start?: number | null; at?: string; minutes?: number }): ExecutionRow => {
  const start = fields.at === undefined ? (fields.start ?? null) : us(fields.at);
  return {
    start,
    end: fields.minutes === undefined || start === null ? (fields.end ?? null) : start + fields.minutes * MINUTE,
    status: fields.status ?? null,
    scriptId: fields.scriptId ?? null,
    userId: fields.userId ?? null,
  };
};

export const ROWS: Rows = {
  scripts: SCRIPTS,
  users: [
    user(USER_A, 'Kenya', '2026-06-15T10:05:00Z'),
    user(USER_B, 'Brazil', '2026-06-10T00:00:00Z'),
    user(USER_C, '', '2025-01-01T00:00:00Z'),
    user('0000000d-0000-4000-8000-000000000000', null, null),
  ],
  executions: [
    run({ at: '2026-06-15T11:10:00Z', minutes: 3, status: 'FINISHED', scriptId: PROD, userId: USER_A }),
    run({ at: '2026-06-15T11:50:00Z', minutes: 2, status: 'FAILED', scriptId: PROD, userId: USER_A }),
    run({ at: '2026-06-15T12:00:00Z', status: 'RUNNING', scriptId: LAND, userId: USER_B }),
    run({ at: '2026-06-12T09:00:00Z', minutes: 10, status: 'FINISHED', scriptId: LAND, userId: USER_B }),
    run({ at: '2026-06-01T00:00:00Z', minutes: 1, status: 'CANCELLED', scriptId: SDG, userId: USER_A }),
    run({ at: '2026-06-15T12:30:00Z', status: null, scriptId: null, userId: USER_C }),
    run({ status: 'PENDING', scriptId: PROD, userId: USER_C }), // no start
  ],
};
export const DATA = referenceData(ROWS);

/** A value as the API stores it, parsed back (PyFloat, Map become plain JSON). */
export const stored = (value: unknown) => JSON.parse(pyJson(value));
