/**
 * Column types checked before decoding: the binary COPY is read by position with the types
 * assumed, so a column changed to another type must fail the configs built on it, with one
 * line naming the column, the type found and the types accepted, while the others are
 * written; and every type accepted as decoding to the same values must give the API's
 * entries exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestsFor } from '../../src/requests/batches.js';
import { requestLabel, payloadKey } from '../../src/requests/request-keys.js';
import { partsOf, SECTION_COLUMNS } from '../../src/stats/sections.js';
import type { Column } from '../../src/pass/catalog.js';
import { runCli, summaryOf } from '../helpers/cli.js';
import { GOLDEN_KEYS, goldenValue } from '../helpers/golden.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { databaseFromTemplate, GOLDEN_NOW, goldenTemplate, readKeys } from '../helpers/services.js';

let server: RedisServer;
let redis: TestRedisClient;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = await server.client();
});

afterAll(async () => {
  await redis?.close();
  await server?.stop();
});

/** Runs `refresh all` on a copy of the golden database changed by `alter`, into an empty Redis. */
async function refreshAfter(label: string, alter: string) {
  const database = await databaseFromTemplate(goldenTemplate(), `types_${label}`);
  try {
    await database.query(alter);
    await redis.flushdb();
    const run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW], { DATABASE_URL: database.url, REDIS_URL: server.url() });
    return { run, written: await readKeys(redis, 'stats_service:*') };
  } finally {
    await database.drop();
  }
}

const ACCEPTED: Array<[string, string]> = [
  [
    'timestamptz',
    `ALTER TABLE execution ALTER COLUMN start_date TYPE timestamptz USING start_date AT TIME ZONE 'UTC',
                           ALTER COLUMN end_date TYPE timestamptz USING end_date AT TIME ZONE 'UTC';
     ALTER TABLE "user" ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC'`,
  ],
  ['text', `ALTER TABLE execution ALTER COLUMN status TYPE text; ALTER TABLE "user" ALTER COLUMN country TYPE text, ALTER COLUMN email TYPE text`],
  [
    'an enum',
    `CREATE TYPE execution_status AS ENUM ('PENDING', 'READY', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELLED');
     ALTER TABLE execution ALTER COLUMN status TYPE execution_status USING status::execution_status`,
  ],
  ['a domain over text', `CREATE DOMAIN country_name AS text; ALTER TABLE "user" ALTER COLUMN country TYPE country_name`],
];

describe('types that decode to the same values', () => {
  it.each(ACCEPTED)('%s: every key is the API\'s entry', async (label, alter) => {
    const { run, written } = await refreshAfter(label.replaceAll(' ', '_'), alter);
    expect(run.code, run.stderr).toBe(0);
    expect([...written.keys()].sort()).toEqual([...GOLDEN_KEYS]);
    for (const key of GOLDEN_KEYS) expect(JSON.parse(written.get(key)!), key).toStrictEqual(goldenValue(key));
  });
});

interface Refusal {
  readonly column: Column;
  readonly alter: string;
  readonly message: string;
}

const REFUSED: Refusal[] = [
  {
    column: 'execution.status',
    alter: `ALTER TABLE execution ALTER COLUMN status TYPE integer USING CASE status WHEN 'FINISHED' THEN 1 WHEN 'FAILED' THEN 2 ELSE 0 END`,
    message: 'column execution.status is integer; stats-refresh reads it only as text, character varying or an enum',
  },
  {
    column: 'execution.start_date',
    alter: 'ALTER TABLE execution ALTER COLUMN start_date TYPE date',
    message: 'column execution.start_date is date; stats-refresh reads it only as timestamp without time zone (or timestamptz, read in UTC)',
  },
  {
    column: 'execution.user_id',
    alter: 'ALTER TABLE execution DROP CONSTRAINT execution_user_id_fkey, ALTER COLUMN user_id TYPE text',
    message: 'column execution.user_id is text; stats-refresh reads it only as uuid',
  },
  {
    column: 'user.country',
    alter: 'ALTER TABLE "user" ALTER COLUMN country TYPE char(60)',
    message: 'column "user".country is character; stats-refresh reads it only as text, character varying or an enum',
  },
  {
    column: 'user.created_at',
    alter: 'ALTER TABLE "user" ALTER COLUMN created_at TYPE date',
    message: 'column "user".created_at is date; stats-refresh reads it only as timestamp without time zone (or timestamptz, read in UTC)',
  },
];

describe('types the decoders do not read', () => {
  const configs = requestsFor(['dashboard', 'executions', 'users']);

  it.each(REFUSED)('$column refused: its configs fail with one line, the others are written', async (refusal) => {
    const { run, written } = await refreshAfter(refusal.column.replace('.', '_'), refusal.alter);
    const onColumn = configs.filter((config) => partsOf(config).some(([, request]) => SECTION_COLUMNS[request.section].includes(refusal.column)));
    expect(onColumn.length).toBeGreaterThan(0);
    expect(onColumn.length).toBeLessThan(configs.length);
    expect(run.code).toBe(1);
    const summary = summaryOf(run);
    expect(summary.failures.map((failure) => failure.config).sort()).toEqual(onColumn.map(requestLabel).sort());
    for (const failure of summary.failures) expect(failure.error).toBe(refusal.message);
    expect(run.logs.filter((log) => log.msg === 'column refused').map((log) => log.err)).toEqual([refusal.message]);
    // Nothing computed from the column is written; what is written is the API's.
    for (const config of onColumn) expect(written.has(payloadKey(config)), requestLabel(config)).toBe(false);
    expect(written.size).toBeGreaterThan(0);
    for (const [key, value] of written) expect(JSON.parse(value), key).toStrictEqual(goldenValue(key));
  });

  it('a timestamp of another precision is still a timestamp: read as such (values rounded by PostgreSQL itself)', async () => {
    const { run } = await refreshAfter('precision', 'ALTER TABLE execution ALTER COLUMN end_date TYPE timestamp(0)');
    expect(run.code).toBe(0);
    expect(run.logs.some((log) => log.msg === 'column refused')).toBe(false);
  });
});
