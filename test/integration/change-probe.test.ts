/**
 * The change probe (src/pass/change-probe.ts) on a copy of the golden database, run as the
 * least-privilege role: every kind of change a payload shows changes the fingerprint, what
 * the API writes all day and no payload shows does not, and what it is documented not to
 * see stays unseen. Writes go through one session playing the API; after each, that session
 * publishes its statistics (pg_stat_force_next_flush) so the lagged counters are read at
 * once, and a probe that read a counter moved by noise (n_tup_upd) would fail here too.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/io/db.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { type ChangeFingerprint, changedParts, fingerprintText, probeAt, probeChanges, WATCHED_RUNS } from '../../src/pass/change-probe.js';
import { random } from '../helpers/random.js';
import { readOnlyRole, type ReadOnlyRole } from '../helpers/read-only-role.js';
import { databaseFromTemplate, goldenTemplate, type TestDatabase } from '../helpers/services.js';

let database: TestDatabase;
let reader: ReadOnlyRole;
let probePool: pg.Pool;
let api: pg.Client;

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'probe');
  // The API's current schema has these on "user" (the golden dump predates them): it writes them on every
  // token refresh and login.
  await database.query('ALTER TABLE "user" ADD COLUMN last_activity_at timestamp, ADD COLUMN last_login_at timestamp');
  reader = await readOnlyRole(database);
  probePool = createDb({ url: reader.url, tls: parsePostgresTls(reader.url, 'the test'), applicationName: 'stats-refresh', poolSize: 1 }).pool;
  api = new pg.Client({ connectionString: database.url });
  await api.connect();
});

afterAll(async () => {
  await api?.end();
  await probePool?.end();
  await reader?.drop();
  await database?.drop();
});

const probe = () => probeChanges(probePool);

/** Runs `sql` as the API would, then publishes the session's statistics before returning. */
async function apiWrites(sql: string, values: unknown[] = []): Promise<void> {
  await api.query(sql, values);
  await api.query('SELECT pg_stat_force_next_flush()');
}

async function one<T>(sql: string, values: unknown[] = []): Promise<T> {
  const { rows } = await api.query(sql, values);
  if (rows.length === 0) throw new Error(`no row: ${sql}`);
  return rows[0] as T;
}

/** Instants after everything in the golden data (it ends at 2026-06-15 12:34:56), one second apart, as the API's naive UTC. */
let seconds = 0;
function later(): string {
  seconds += 1;
  return new Date(Date.UTC(2026, 5, 15, 12, 40, 0) + seconds * 1000).toISOString().replace('T', ' ').replace('Z', '');
}

async function anyScript(): Promise<string> {
  return (await one<{ id: string }>('SELECT id FROM script ORDER BY slug LIMIT 1')).id;
}

async function anyUser(): Promise<string> {
  return (await one<{ id: string }>('SELECT id FROM "user" ORDER BY created_at LIMIT 1')).id;
}

/** Inserts a run as the API does (id from the client), returning its id. */
async function submit(status: string | null, start: string | null, end: string | null = null): Promise<string> {
  const id = (await one<{ id: string }>('SELECT gen_random_uuid()::text AS id')).id;
  await apiWrites(
    `INSERT INTO execution (id, start_date, end_date, status, progress, params, results, script_id, user_id)
     VALUES ($1, $2, $3, $4, 0, '{}', '{}', $5, $6)`,
    [id, start, end, status, await anyScript(), await anyUser()],
  );
  return id;
}

/** A run among the WATCHED_RUNS newest by start, with the given status. */
async function recentRun(status: string): Promise<string> {
  return (
    await one<{ id: string }>(
      `SELECT id FROM (SELECT id, status FROM execution WHERE start_date IS NOT NULL ORDER BY start_date DESC LIMIT ${WATCHED_RUNS}) newest
        WHERE status = $1 LIMIT 1`,
      [status],
    )
  ).id;
}

/** A run of `status` outside both windows and at no edge: neither among the newest by start or end, nor its status's first. */
async function oldRun(status: string): Promise<string> {
  return (
    await one<{ id: string }>(
      `SELECT id FROM execution WHERE status = $1 AND start_date IS NOT NULL AND end_date IS NOT NULL
        ORDER BY start_date OFFSET 10 LIMIT 1`,
      [status],
    )
  ).id;
}

/** The fingerprint before and after `change`, and what differs. */
async function across(change: () => Promise<unknown>): Promise<{ before: ChangeFingerprint; after: ChangeFingerprint; parts: string[] }> {
  const before = await probe();
  await change();
  const after = await probe();
  const parts = changedParts(before, after);
  // The text form and the parts agree: the text is what gets stored and compared.
  expect(fingerprintText(after) === fingerprintText(before)).toBe(parts.length === 0);
  return { before, after, parts };
}

describe('the probe', () => {
  it('runs as the least-privilege role, which cannot read a fourth table', async () => {
    await expect(probePool.query('SELECT * FROM api_secret')).rejects.toMatchObject({ code: '42501' });
    const fingerprint = await probe();
    expect(fingerprint.executions.byStatus.map((window) => window.status)).toEqual([
      'CANCELLED',
      'FAILED',
      'FINISHED',
      'PENDING',
      'READY',
      'RUNNING',
      null,
    ]);
    // The golden data has more runs than the windows watch: they are real cuts, not the whole table.
    expect(fingerprint.executions.startedSince).not.toBeNull();
    expect(fingerprint.executions.endedSince).not.toBeNull();
    const watched = fingerprint.executions.byStatus.reduce((sum, window) => sum + window.started, 0);
    expect(watched).toBeGreaterThanOrEqual(WATCHED_RUNS);
    expect(watched).toBeLessThan(WATCHED_RUNS + 10);
    expect(fingerprint.users.newestCreated).toBe('2026-06-15T10:31:12.554313');
    expect(fingerprint.scripts.count).toBe('60');
    expect(fingerprint.executions.inserted).not.toBeNull();
  });

  it('gives the same fingerprint twice when nothing changed', async () => {
    const first = await probe();
    expect(fingerprintText(await probe())).toBe(fingerprintText(first));
  });

  it('gives the same fingerprint with the horizon (one-shot refresh) as without (schedule)', async () => {
    const withHorizon = await probeAt(probePool, new Date(Date.UTC(2026, 5, 15, 13)));
    expect(withHorizon.validUntil).not.toBeNull();
    expect(fingerprintText(await probe())).toBe(fingerprintText(withHorizon.fingerprint));
  });
});

describe('sees every change a payload shows', () => {
  it('a run submitted now', async () => {
    const { parts } = await across(() => submit('PENDING', later()));
    expect(parts).toContain('executions.newestStart');
    expect(parts).toContain('executions.byStatus["PENDING"].started');
  });

  it('a run backfilled with an old date (the insert counter)', async () => {
    const { parts } = await across(() => submit('FINISHED', '2021-03-04 05:06:07', '2021-03-04 05:16:07'));
    expect(parts).toEqual(['executions.inserted']);
  });

  it('a run dated in the future', async () => {
    const { parts } = await across(() => submit('PENDING', '2031-01-01 00:00:00'));
    expect(parts).toContain('executions.newestStart');
  });

  it('a run without a status or a start date (the insert counter at least)', async () => {
    expect((await across(() => submit(null, null))).parts).toContain('executions.inserted');
  });

  it('a submitted run moving PENDING → READY → RUNNING → FINISHED, each step', async () => {
    const id = await submit('PENDING', later());
    for (const status of ['READY', 'RUNNING']) {
      const { parts } = await across(() => apiWrites('UPDATE execution SET status = $2 WHERE id = $1', [id, status]));
      expect(parts, status).toContain(`executions.byStatus[${JSON.stringify(status)}].started`);
    }
    const { parts } = await across(() => apiWrites("UPDATE execution SET status = 'FINISHED', end_date = $2, progress = 100 WHERE id = $1", [id, later()]));
    expect(parts).toContain('executions.newestEnd');
    expect(parts).toContain('executions.byStatus["FINISHED"].started');
  });

  it.each(['FAILED', 'CANCELLED'])('a recent RUNNING run ending %s with its end date', async (status) => {
    const id = await recentRun('RUNNING');
    const { parts } = await across(() => apiWrites('UPDATE execution SET status = $2, end_date = $3 WHERE id = $1', [id, status, later()]));
    expect(parts).toContain(`executions.byStatus[${JSON.stringify(status)}].ended`);
  });

  it.each(['FAILED', 'CANCELLED'])('a recent RUNNING run ending %s without an end date', async (status) => {
    const id = await recentRun('RUNNING');
    const { parts } = await across(() => apiWrites('UPDATE execution SET status = $2 WHERE id = $1', [id, status]));
    expect(parts).toContain('executions.byStatus["RUNNING"].started');
  });

  it('a recent run moving on without any date changing (READY → RUNNING)', async () => {
    const id = await recentRun('READY');
    const { parts } = await across(() => apiWrites("UPDATE execution SET status = 'RUNNING' WHERE id = $1", [id]));
    expect(parts).toEqual(['executions.byStatus["READY"].started', 'executions.byStatus["RUNNING"].started']);
  });

  it('an old RUNNING run finishing now (its end date is the newest)', async () => {
    const { id } = await one<{ id: string }>("SELECT id FROM execution WHERE status = 'RUNNING' ORDER BY start_date OFFSET 5 LIMIT 1");
    const { parts } = await across(() => apiWrites("UPDATE execution SET status = 'FINISHED', end_date = $2 WHERE id = $1", [id, later()]));
    expect(parts).toContain('executions.newestEnd');
  });

  it('an end date set on a run that stays RUNNING', async () => {
    const id = await recentRun('RUNNING');
    const { parts } = await across(() => apiWrites('UPDATE execution SET end_date = $2 WHERE id = $1', [id, later()]));
    expect(parts).toContain('executions.byStatus["RUNNING"].ended');
  });

  it('a recent run deleted', async () => {
    const id = await recentRun('FINISHED');
    const { parts } = await across(() => apiWrites('DELETE FROM execution WHERE id = $1', [id]));
    expect(parts).toContain('executions.startedSince');
  });

  it('an old run deleted (the delete counter)', async () => {
    const id = await oldRun('FINISHED');
    const { parts } = await across(() => apiWrites('DELETE FROM execution WHERE id = $1', [id]));
    expect(parts).toEqual(['executions.deleted']);
  });

  it('a user registering', async () => {
    const { parts } = await across(() =>
      apiWrites(
        `INSERT INTO "user" (id, email, name, country, password, created_at, updated_at, role)
         VALUES (gen_random_uuid(), 'new-' || gen_random_uuid() || '@example.org', 'New', 'Kenya', 'x', $1, $1, 'USER')`,
        [later()],
      ),
    );
    expect(parts).toEqual(['users.inserted', 'users.newestCreated']);
  });

  it('a user deleted with their runs, as the API deletes them', async () => {
    const { id } = await one<{ id: string }>(
      `SELECT u.id FROM "user" u WHERE EXISTS (SELECT FROM execution e WHERE e.user_id = u.id)
          AND NOT EXISTS (SELECT FROM script s WHERE s.user_id = u.id) AND u.created_at IS NOT NULL
        ORDER BY u.created_at OFFSET 20 LIMIT 1`,
    );
    const { parts } = await across(async () => {
      await api.query('DELETE FROM execution WHERE user_id = $1', [id]);
      await apiWrites('DELETE FROM "user" WHERE id = $1', [id]);
    });
    expect(parts).toContain('users.deleted');
    expect(parts).toContain('executions.deleted');
  });

  it('a script renamed, added and removed', async () => {
    const { id } = await one<{ id: string }>('SELECT id FROM script ORDER BY slug LIMIT 1 OFFSET 3');
    expect((await across(() => apiWrites("UPDATE script SET slug = slug || '-renamed' WHERE id = $1", [id]))).parts).toEqual(['scripts.digest']);
    const added = (await one<{ id: string }>('SELECT gen_random_uuid()::text AS id')).id;
    const insert = `INSERT INTO script (id, name, slug, status, public) VALUES ($1, 'new', 'new-task-1-0-0', 'SUCCESS', true)`;
    expect((await across(() => apiWrites(insert, [added]))).parts).toEqual(['scripts.count', 'scripts.digest']);
    expect((await across(() => apiWrites('DELETE FROM script WHERE id = $1', [added]))).parts).toEqual(['scripts.count', 'scripts.digest']);
  });
});

/** What the API writes all day and no payload shows, each on rows of every kind. */
const NOISE: ReadonlyArray<readonly [string, string]> = [
  ['progress of running executions', "UPDATE execution SET progress = (progress + 7) % 100 WHERE status = 'RUNNING'"],
  ['progress of one running execution', "UPDATE execution SET progress = 42 WHERE id = (SELECT id FROM execution WHERE status = 'RUNNING' ORDER BY start_date DESC LIMIT 1)"],
  ['results of running executions', `UPDATE execution SET results = jsonb_build_object('urls', jsonb_build_array(md5(random()::text))) WHERE status = 'RUNNING'`],
  ['params of running executions', `UPDATE execution SET params = params || jsonb_build_object('task_notes', md5(random()::text)) WHERE status IN ('RUNNING', 'PENDING', 'READY')`],
  ["users' last_activity_at", `UPDATE "user" SET last_activity_at = now() AT TIME ZONE 'UTC' WHERE id IN (SELECT id FROM "user" ORDER BY random() LIMIT 50)`],
  ["a user's login", `UPDATE "user" SET last_login_at = now() AT TIME ZONE 'UTC', last_activity_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC'
     WHERE id = (SELECT id FROM "user" ORDER BY created_at DESC LIMIT 1)`],
  ["a script's description", "UPDATE script SET description = md5(random()::text), updated_at = now() AT TIME ZONE 'UTC' WHERE id = (SELECT id FROM script LIMIT 1)"],
  ['a vacuum and new statistics', 'VACUUM (ANALYZE) execution'],
];

describe('sees where the data comes from', () => {
  it('a column of another type, added or dropped (the catalog checks types only when a run computes)', async () => {
    expect((await across(() => apiWrites('ALTER TABLE script ALTER COLUMN slug TYPE varchar(300)'))).parts).toEqual(['source.columns']);
    expect((await across(() => apiWrites('ALTER TABLE script ALTER COLUMN slug TYPE text'))).parts).toEqual(['source.columns']);
    expect((await across(() => apiWrites('ALTER TABLE "user" ADD COLUMN nickname text'))).parts).toEqual(['source.columns']);
    expect((await across(() => apiWrites('ALTER TABLE "user" DROP COLUMN nickname'))).parts).toEqual(['source.columns']);
  });

  it('another database holding the same rows', async () => {
    const copy = await databaseFromTemplate(goldenTemplate(), 'probe_copy');
    const pools = [database, copy].map((db) => createDb({ url: db.url, tls: parsePostgresTls(db.url, 'the test'), applicationName: 'stats-refresh', poolSize: 1 }).pool);
    try {
      const [here, there] = await Promise.all(pools.map((pool) => probeChanges(pool)));
      expect(changedParts(here!, there!)).toContain('source.database');
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
      await copy.drop();
    }
  });
});

describe('does not change on what no payload shows', () => {
  it.each(NOISE)('%s', async (_, sql) => {
    expect((await across(() => apiWrites(sql))).parts).toEqual([]);
  });
});

describe('does not see (the full run every --max-staleness does)', () => {
  it("a user's country edited", async () => {
    const { parts } = await across(() => apiWrites(`UPDATE "user" SET country = 'Ghana' WHERE id = (SELECT id FROM "user" ORDER BY created_at LIMIT 1 OFFSET 7)`));
    expect(parts).toEqual([]);
  });

  it("an old finished run's status rewritten", async () => {
    const id = await oldRun('FINISHED');
    expect((await across(() => apiWrites("UPDATE execution SET status = 'FAILED' WHERE id = $1", [id]))).parts).toEqual([]);
  });
});

describe('at random', () => {
  /** Visible changes of the kinds the probe guarantees to see, on rows picked at random. */
  const VISIBLE: ReadonlyArray<(pick: () => number) => Promise<unknown>> = [
    () => submit('PENDING', later()),
    (pick) => submit(['FINISHED', 'FAILED', 'CANCELLED'][Math.floor(pick() * 3)]!, `20${10 + Math.floor(pick() * 15)}-0${1 + Math.floor(pick() * 9)}-11 10:00:00`, null),
    async (pick) => {
      const { rows } = await api.query<{ id: string; status: string }>(
        `SELECT id, status FROM (SELECT id, status FROM execution WHERE start_date IS NOT NULL ORDER BY start_date DESC LIMIT ${WATCHED_RUNS}) newest
          WHERE status IN ('PENDING', 'READY', 'RUNNING') ORDER BY id`,
      );
      const run = rows[Math.floor(pick() * rows.length)]!;
      const next = { PENDING: 'READY', READY: 'RUNNING', RUNNING: ['FINISHED', 'FAILED', 'CANCELLED'][Math.floor(pick() * 3)] }[run.status];
      await apiWrites('UPDATE execution SET status = $2 WHERE id = $1', [run.id, next]);
    },
    async () => apiWrites("UPDATE execution SET status = 'FINISHED', end_date = $2 WHERE id = $1", [await recentRun('RUNNING'), later()]),
    async (pick) => {
      const { id } = await one<{ id: string }>('SELECT id FROM execution ORDER BY id OFFSET $1 LIMIT 1', [Math.floor(pick() * 5000)]);
      await apiWrites('DELETE FROM execution WHERE id = $1', [id]);
    },
    () =>
      apiWrites(
        `INSERT INTO "user" (id, email, name, password, created_at) VALUES (gen_random_uuid(), gen_random_uuid() || '@example.org', 'N', 'x', $1)`,
        [later()],
      ),
    async (pick) => apiWrites("UPDATE script SET slug = slug || '-x' WHERE id = (SELECT id FROM script ORDER BY id OFFSET $1 LIMIT 1)", [Math.floor(pick() * 50)]),
  ];

  it('a random sequence of noise writes never changes the fingerprint; a random visible change always does', async () => {
    const pick = random(20_260_615);
    let fingerprint = fingerprintText(await probe());
    for (let round = 0; round < 40; round += 1) {
      const noise = Array.from({ length: 1 + Math.floor(pick() * 4) }, () => NOISE[Math.floor(pick() * NOISE.length)]!);
      for (const [label, sql] of noise) {
        await apiWrites(sql);
        expect(fingerprintText(await probe()), `round ${round}: ${label}`).toBe(fingerprint);
      }
      const change = Math.floor(pick() * VISIBLE.length);
      await VISIBLE[change]!(pick);
      const next = fingerprintText(await probe());
      expect(next, `round ${round}: visible change ${change}`).not.toBe(fingerprint);
      fingerprint = next;
    }
  });
});
