/**
 * The data generator in tools/: counts, realism (every status, NULLs, slug forms, recency) and
 * determinism. Needs PostgreSQL; the admin URL (a database used to create/drop the test databases)
 * comes from TEST_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres.
 */

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, scriptSlugs, seedDatabase } from '../../tools/seed-lib.js';
import { ADMIN_URL } from '../helpers/services.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const NOW_SQL = '2026-06-15 12:34:56';
const SIZES = { users: 500, scripts: 40, executions: 20_000 };

const suffix = randomBytes(4).toString('hex');
const names = { a: `sr_seed_${suffix}_a`, b: `sr_seed_${suffix}_b`, c: `sr_seed_${suffix}_c` };
const created: string[] = [];

async function fresh(name: string): Promise<string> {
  const url = await createDatabase(ADMIN_URL, name);
  created.push(name);
  return url;
}

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function one<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T> {
  const rows = await query<T>(url, text, values);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

/** md5 of every table's rows in id order: equal fingerprints mean identical data. */
async function fingerprint(url: string): Promise<Record<string, string>> {
  const row = await one<Record<string, string>>(
    url,
    `SELECT
       (SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id)) FROM public."user" t) AS users,
       (SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id)) FROM public.script t) AS scripts,
       (SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id)) FROM public.execution t) AS executions`,
  );
  return row;
}

describe('seedDatabase', () => {
  let urlA = '';
  let urlB = '';
  let urlC = '';
  let resultA: Awaited<ReturnType<typeof seedDatabase>>;

  beforeAll(async () => {
    urlA = await fresh(names.a);
    urlB = await fresh(names.b);
    urlC = await fresh(names.c);
    resultA = await seedDatabase({ databaseUrl: urlA, ...SIZES, now: NOW, seed: 7 });
    await seedDatabase({ databaseUrl: urlB, ...SIZES, now: NOW, seed: 7 });
    await seedDatabase({ databaseUrl: urlC, ...SIZES, now: NOW, seed: 8 });
  }, 120_000);

  afterAll(async () => {
    for (const name of created) await dropDatabase(ADMIN_URL, name);
  }, 60_000);

  it('reports and inserts the requested counts', async () => {
    expect(resultA).toMatchObject(SIZES);
    expect(resultA.ms).toBeGreaterThan(0);
    const counts = await one<{ users: number; scripts: number; executions: number }>(
      urlA,
      `SELECT (SELECT count(*)::int FROM public."user") AS users,
              (SELECT count(*)::int FROM public.script) AS scripts,
              (SELECT count(*)::int FROM public.execution) AS executions`,
    );
    expect(counts).toEqual(SIZES);
  });

  it('creates the keys, indexes and foreign keys of the schema', async () => {
    const indexes = await query<{ name: string }>(
      urlA,
      `SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`,
    );
    expect(indexes.map((row) => row.name)).toEqual([
      'execution_pkey',
      'ix_execution_end_date',
      'ix_execution_script_id',
      'ix_execution_start_date',
      'ix_execution_status',
      'ix_execution_status_end_date',
      'ix_execution_status_start_date',
      'ix_execution_user_id',
      'ix_script_created_at',
      'ix_script_status',
      'ix_script_user_id',
      'ix_user_country',
      'ix_user_created_at',
      'ix_user_role',
      'script_pkey',
      'script_slug_key',
      'user_email_key',
      'user_pkey',
    ]);
    const fks = await query<{ name: string }>(
      urlA,
      `SELECT conname AS name FROM pg_constraint WHERE contype = 'f' ORDER BY 1`,
    );
    expect(fks.map((row) => row.name)).toEqual([
      'execution_script_id_fkey',
      'execution_user_id_fkey',
      'script_user_id_fkey',
    ]);
    const analyzed = await one<{ n: number }>(
      urlA,
      `SELECT count(*)::int AS n FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL`,
    );
    expect(analyzed.n).toBe(3);
  });

  it('uses every status, NULL included, in plausible shares', async () => {
    const rows = await query<{ status: string | null; n: number }>(
      urlA,
      `SELECT status, count(*)::int AS n FROM public.execution GROUP BY status`,
    );
    const share = new Map(rows.map((row) => [row.status, row.n / SIZES.executions]));
    expect([...share.keys()].sort()).toEqual(
      ['CANCELLED', 'FAILED', 'FINISHED', 'PENDING', 'READY', 'RUNNING', null].sort(),
    );
    expect(share.get('FINISHED')).toBeGreaterThan(0.6);
    expect(share.get('FINISHED')).toBeLessThan(0.7);
    expect(share.get('FAILED')).toBeGreaterThan(0.17);
    expect(share.get('FAILED')).toBeLessThan(0.23);
    expect(share.get(null)).toBeGreaterThan(0);
    expect(share.get(null)).toBeLessThan(0.02);
  });

  it('has the NULLs the refresher must cope with', async () => {
    const row = await one<Record<string, number>>(
      urlA,
      `SELECT
         (SELECT count(*)::int FROM public.execution WHERE script_id IS NULL) AS null_script,
         (SELECT count(*)::int FROM public.execution WHERE user_id IS NULL) AS null_user,
         (SELECT count(*)::int FROM public.execution WHERE start_date IS NULL) AS null_start,
         (SELECT count(*)::int FROM public.execution WHERE end_date IS NULL) AS null_end,
         (SELECT count(*)::int FROM public.execution
           WHERE end_date IS NULL AND status IN ('RUNNING', 'PENDING', 'READY')) AS live_null_end,
         (SELECT count(*)::int FROM public.execution
           WHERE end_date IS NULL AND status IN ('FINISHED', 'FAILED', 'CANCELLED') AND start_date IS NOT NULL) AS done_null_end,
         (SELECT count(*)::int FROM public.execution WHERE end_date < start_date OR end_date > $1::timestamp) AS bad_end,
         (SELECT count(*)::int FROM public."user" WHERE country IS NULL) AS null_country,
         (SELECT count(*)::int FROM public."user" WHERE country = '') AS empty_country,
         (SELECT count(*)::int FROM public."user" WHERE country <> '' AND trim(country) = '') AS blank_country,
         (SELECT count(*)::int FROM public."user" WHERE country IN ('Côte d''Ivoire', 'Curaçao')) AS accented_country,
         (SELECT count(DISTINCT country)::int FROM public."user" WHERE trim(country) <> '') AS countries,
         (SELECT count(*)::int FROM public."user" WHERE created_at IS NULL) AS null_created`,
      [NOW_SQL],
    );
    expect(row.null_script).toBeGreaterThan(0);
    expect(row.null_script).toBeLessThan(SIZES.executions * 0.02);
    expect(row.null_user).toBeGreaterThan(0);
    expect(row.null_start).toBeGreaterThan(0);
    expect(row.null_start).toBeLessThan(50);
    expect(row.null_end).toBeGreaterThan(0);
    expect(row.live_null_end).toBeGreaterThan(0);
    expect(row.done_null_end).toBe(0);
    expect(row.bad_end).toBe(0);
    expect(row.null_country).toBeGreaterThan(SIZES.users * 0.05);
    expect(row.null_country).toBeLessThan(SIZES.users * 0.15);
    expect(row.empty_country).toBeGreaterThan(0);
    expect(row.blank_country).toBeGreaterThan(0);
    expect(row.accented_country).toBeGreaterThan(0);
    expect(row.countries).toBeGreaterThanOrEqual(30);
    expect(row.null_created).toBeGreaterThan(0);
    expect(row.null_created).toBeLessThan(30);
  });

  it('has script slugs in every form', async () => {
    const rows = await query<{ slug: string; name: string; status: string; public: boolean }>(
      urlA,
      `SELECT slug, name, status, public FROM public.script`,
    );
    const slugs = rows.map((row) => row.slug);
    for (const slug of [
      'land-cover-2-0-1',
      'sdg-15-3-1-sub-indicators-2-1-0',
      'productivity-v2.1.0',
      'change-biomass-v1-0-3',
      'soil-erosion-v3',
      'drought-vulnerability',
      'drought',
      'download-data',
      'sdg-sub-indicators-1-0-1',
      'vegetation-productivity-1-0-0',
      'productivity-trajectory-1-0-0',
      'land-cover-1-9-0',
      'land-cover-1-10-0',
    ]) {
      expect(slugs).toContain(slug);
    }
    expect(rows.every((row) => row.name === row.slug && row.status === 'SUCCESS' && row.public)).toBe(true);
    const years = await one<{ years: number }>(
      urlA,
      `SELECT count(DISTINCT date_part('year', created_at))::int AS years FROM public.script`,
    );
    expect(years.years).toBeGreaterThanOrEqual(3);
  });

  it('generates further unique versions when many scripts are asked for', () => {
    const slugs = scriptSlugs(2_000);
    expect(slugs).toHaveLength(2_000);
    expect(new Set(slugs).size).toBe(2_000);
    expect(slugs.every((slug) => slug.length <= 80)).toBe(true);
    expect(scriptSlugs(40)).toEqual(slugs.slice(0, 40));
  });

  it('puts a large share of executions in the last 24 hours and none in the future', async () => {
    const row = await one<{ day: number; week: number; future: number; oldest_days: number }>(
      urlA,
      `SELECT
         count(*) FILTER (WHERE start_date > $1::timestamp - interval '24 hours')::int AS day,
         count(*) FILTER (WHERE start_date > $1::timestamp - interval '7 days')::int AS week,
         count(*) FILTER (WHERE start_date > $1::timestamp)::int AS future,
         extract(day FROM $1::timestamp - min(start_date))::int AS oldest_days
       FROM public.execution`,
      [NOW_SQL],
    );
    expect(row.day / SIZES.executions).toBeGreaterThan(0.08);
    expect(row.day / SIZES.executions).toBeLessThan(0.2);
    expect(row.week / SIZES.executions).toBeGreaterThan(0.18);
    expect(row.future).toBe(0);
    expect(row.oldest_days).toBeGreaterThan(900);
    expect(row.oldest_days).toBeLessThanOrEqual(3 * 365);
  });

  it('skews executions towards heavy users and popular scripts', async () => {
    const row = await one<{ top_user: number; top_script: number }>(
      urlA,
      `SELECT
         (SELECT max(n) FROM (SELECT count(*)::int AS n FROM public.execution GROUP BY user_id) u) AS top_user,
         (SELECT max(n) FROM (SELECT count(*)::int AS n FROM public.execution GROUP BY script_id) s) AS top_script`,
    );
    expect(row.top_user).toBeGreaterThan((SIZES.executions / SIZES.users) * 10);
    expect(row.top_script).toBeGreaterThan((SIZES.executions / SIZES.scripts) * 3);
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const [a, b, c] = await Promise.all([fingerprint(urlA), fingerprint(urlB), fingerprint(urlC)]);
    expect(a.users).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toEqual(a);
    expect(c.users).not.toBe(a.users);
    expect(c.scripts).not.toBe(a.scripts);
    expect(c.executions).not.toBe(a.executions);
  });

  it('refuses to seed a database that already has the tables', async () => {
    await expect(seedDatabase({ databaseUrl: urlA, ...SIZES, now: NOW, seed: 7 })).rejects.toThrow(/not empty/);
  });
});
