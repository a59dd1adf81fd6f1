/**
 * Deterministic generator of a Trends.Earth API database ("user", script, execution) for demos,
 * benchmarks and tests.
 *
 * Everything random is drawn on the server: `SELECT setseed(...)` followed by
 * `INSERT ... SELECT ... FROM generate_series(...)` with random(), inside one transaction on one
 * connection, so a given (seed, now, sizes) always yields byte-identical rows. Ids are md5-based
 * uuids of (table, seed, row number), so executions reference users and scripts by recomputing their
 * ids instead of joining. Timestamps are `timestamp without time zone` holding UTC and are computed
 * from the `now` passed in (never from the server clock or the session time zone).
 */

import { readFile } from 'node:fs/promises';
import pg from 'pg';

export interface SeedOptions {
  databaseUrl: string;
  users: number;
  scripts: number;
  executions: number;
  now: Date;
  seed?: number;
}

export interface SeedResult {
  users: number;
  scripts: number;
  executions: number;
  ms: number;
}

export const DEFAULT_SEED = 42;
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/stats_refresh_demo';

const SCHEMA_URL = new URL('./schema.sql', import.meta.url);
const POST_LOAD_MARKER = /^-- @post-load.*$/m;
const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

// ---------------------------------------------------------------------------------------------
// Database URLs and (re)creation
// ---------------------------------------------------------------------------------------------

/** `url` with its database (path) replaced by `name`. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

/** The database name in a postgres:// URL (`""` when it has none). */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

function quoteIdent(name: string): string {
  if (!DATABASE_NAME.test(name)) {
    throw new Error(`invalid database name ${JSON.stringify(name)} (letters, digits and _ only, at most 63)`);
  }
  return `"${name}"`;
}

/**
 * Drops (if it exists, terminating its connections) and creates database `name` on the server of
 * `adminUrl` (a URL of another database there, e.g. `.../postgres`). Returns the new database's URL.
 */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const ident = quoteIdent(name);
  if (databaseName(adminUrl) === name) throw new Error(`cannot recreate ${name} while connected to it`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${ident}`);
  } finally {
    await client.end();
  }
  return withDatabase(adminUrl, name);
}

/** Drops database `name` (if it exists, terminating its connections) on the server of `adminUrl`. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const ident = quoteIdent(name);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------------------------

/**
 * Script slugs in the order they are used: the first ones are also the most popular. They cover
 * every slug form the refresher parses: `name-X-Y-Z`, `-vX.Y.Z`, `-vX-Y-Z`, `-vX`, no version,
 * "-v" inside a word (drought-vulnerability), the renamed tasks (sdg-sub-indicators,
 * vegetation-productivity), a `productivity-*` base, and 1-10-0 next to 1-9-0.
 */
export const CURATED_SLUGS: readonly string[] = [
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
  'change-biomass-v1.0.0',
  'sdg-15-3-1-sub-indicators-2-2-4',
  'productivity-performance-1-1-0',
  'productivity-state-1-0-0',
  'sdg-11-3-1-urban-change-v1.2.0',
  'total-carbon-1-0-5',
  'soil-organic-carbon-1-0-0',
  'restoration-biomass-1-0-5',
  'urban-area-0-2-0',
  'drought-vulnerability-2-0-0',
  'time-series-1-2-1',
  'water-erosion-1-0-1',
  'aridity-index-1-0-2',
  'land-degradation-v1-1-0',
  'climate-quality-2-0-0',
  'management-quality-0-3-5',
  'population-density-0-2-1',
  'forest-loss-0-3-0',
  'carbon-emissions-v0.2.0',
  'sdg-15-3-1-error-recode-1-0-0',
  'productivity-v3.1.0',
  'sdg-15-3-1-sub-indicators-3-1-1',
  'land-cover-2-0-2',
  'productivity-v2.0.0',
  'sdg-sub-indicators-1-0-2',
  'vegetation-productivity-1-0-1',
  'drought-1-0-0',
  'download-data-0-3-2',
  'change-biomass-v1.1.0',
  'soil-erosion-0-2-0',
  'time-series-1-2-2',
  'water-erosion-1-0-0',
  'aridity-index-1-0-1',
  'land-degradation-v1-0-3',
  'productivity-trajectory-2-0-1',
  'sdg-15-3-1-sub-indicators-3-0-0',
  'land-cover-1-0-3',
  'productivity-1-0-3',
  'sdg-sub-indicators-v1.1.0',
  'drought-vulnerability-2-0-1',
  'soil-organic-carbon-0-1-2',
  'productivity-v3-0-0',
  'total-carbon-1-1-0',
  'restoration-biomass-1-1-0',
  'urban-area-0-3-0',
  'climate-quality-2-1-0',
  'sdg-15-3-1-sub-indicators-2-1-1',
];

type VersionStyle = 'digits' | 'vdots' | 'vdashes' | 'vmajor';

/** Bases that get further versions when more scripts are asked for than CURATED_SLUGS holds. */
const FAMILIES: ReadonlyArray<readonly [base: string, style: VersionStyle]> = [
  ['land-cover', 'digits'],
  ['sdg-15-3-1-sub-indicators', 'digits'],
  ['productivity', 'vdots'],
  ['change-biomass', 'vdashes'],
  ['soil-erosion', 'vmajor'],
  ['drought-vulnerability', 'digits'],
  ['drought', 'digits'],
  ['download-data', 'digits'],
  ['sdg-sub-indicators', 'digits'],
  ['vegetation-productivity', 'digits'],
  ['productivity-trajectory', 'digits'],
  ['productivity-performance', 'digits'],
  ['productivity-state', 'digits'],
  ['sdg-11-3-1-urban-change', 'vdots'],
  ['total-carbon', 'digits'],
  ['soil-organic-carbon', 'digits'],
  ['restoration-biomass', 'digits'],
  ['urban-area', 'digits'],
  ['time-series', 'digits'],
  ['water-erosion', 'digits'],
  ['aridity-index', 'digits'],
  ['land-degradation', 'vdashes'],
  ['climate-quality', 'digits'],
  ['management-quality', 'digits'],
  ['population-density', 'digits'],
  ['forest-loss', 'digits'],
  ['carbon-emissions', 'vdots'],
  ['sdg-15-3-1-error-recode', 'digits'],
];

function versioned(base: string, style: VersionStyle, major: number, minor: number, patch: number): string {
  switch (style) {
    case 'digits':
      return `${base}-${major}-${minor}-${patch}`;
    case 'vdots':
      return `${base}-v${major}.${minor}.${patch}`;
    case 'vdashes':
      return `${base}-v${major}-${minor}-${patch}`;
    case 'vmajor':
      return `${base}-v${major}`;
  }
}

/** The first `count` script slugs (unique, at most 80 characters): CURATED_SLUGS, then more versions. */
export function scriptSlugs(count: number): string[] {
  const slugs: string[] = [];
  const seen = new Set<string>();
  const add = (slug: string): void => {
    if (slugs.length < count && slug.length <= 80 && !seen.has(slug)) {
      seen.add(slug);
      slugs.push(slug);
    }
  };
  for (const slug of CURATED_SLUGS) add(slug);
  // Round k gives every family version (4 + k/100).(k/10 % 10).(k % 10); the digit families
  // always produce a new slug, so this terminates.
  for (let k = 0; slugs.length < count; k++) {
    const major = 4 + Math.floor(k / 100);
    const minor = Math.floor(k / 10) % 10;
    const patch = k % 10;
    for (const [base, style] of FAMILIES) add(versioned(base, style, major, minor, patch));
  }
  return slugs;
}

const FIRST_NAMES = [
  'Amina', 'Carlos', 'Samuel', 'Zoë', 'Lucía', 'Tomás', 'Wei', 'Olga', 'Esther', 'David', 'Mariam',
  'Pierre', 'Luis', 'Omar', 'Fatou', 'Ngozi', 'Aiko', 'Björn', 'Chloé', 'Dmitri', 'Élodie', 'Farah',
  'Gabriel', 'Hana', 'Ikechukwu', 'João', 'Kiran', 'Leïla', 'Mateo', 'Nour', 'Øystein', 'Priya',
  'Raúl', 'Siobhán', 'Thảo', 'Ulla', 'Valentina', 'Yusuf',
];
const LAST_NAMES = [
  'Müller', 'Novak', 'Costa', 'Silva', 'Lopez', 'Wang', 'Hernández', 'Haddad', 'Santos', 'Kim',
  'Kumar', 'Ivanova', 'Nguyễn', 'Diallo', 'Okafor', 'Tanaka', 'Johansson', 'Dubois', 'Petrov',
  'García', 'Mensah', 'Rossi', 'Sørensen', 'Yılmaz', 'Ochieng', 'Traoré', "O'Brien", 'Singh',
];
const COUNTRIES = [
  'Kenya', 'India', 'Brazil', 'United States', 'United Kingdom', "Côte d'Ivoire", 'Curaçao',
  'Colombia', 'Senegal', 'Burkina Faso', 'Niger', 'Mali', 'Ethiopia', 'South Africa', 'China',
  'Indonesia', 'Philippines', 'Viet Nam', 'Peru', 'Argentina', 'Chile', 'Mexico', 'Spain', 'France',
  'Germany', 'Italy', 'Portugal', 'Morocco', 'Tunisia', 'Egypt', 'Jordan', 'Türkiye', 'Kazakhstan',
  'Uzbekistan', 'Mongolia', 'Australia', 'Canada', 'Bolivia', 'Guatemala', 'Zambia', 'Ukraine',
  'Switzerland', 'São Tomé and Príncipe',
];
const INSTITUTIONS = [
  'UNCCD', 'FAO', 'IUCN', 'ICRAF', 'CSIR', 'Conservation International', 'Ministry of Environment',
  'University of Nairobi', 'Universidad de Chile', 'Université Cheikh Anta Diop', 'NASA', 'GIZ',
];

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------

// Shared parameters of the three inserts: $1 now (naive UTC timestamp text), $2 seed (text).
// Years are 365 days, ages are in seconds.

const INSERT_USERS = `
INSERT INTO public."user" (id, email, name, country, institution, password, created_at, updated_at, role)
SELECT
  md5('user:' || $2::text || ':' || n)::uuid,
  'user' || n || '@example.org',
  first_name || ' ' || last_name,
  country,
  institution,
  'pbkdf2:sha256:600000$' || left(md5('salt:' || $2::text || ':' || n), 16) || '$'
    || md5('pw1:' || $2::text || ':' || n) || md5('pw2:' || $2::text || ':' || n),
  CASE WHEN NOT null_created THEN $1::timestamp - age * interval '1 second' END,
  CASE WHEN NOT null_created
    THEN $1::timestamp - age * interval '1 second' + least(age, r_upd * 30 * 86400) * interval '1 second'
  END,
  'USER'
FROM (
  SELECT
    n,
    ($4::text[])[1 + floor(r_first * cardinality($4::text[]))::int] AS first_name,
    ($5::text[])[1 + floor(r_last * cardinality($5::text[]))::int] AS last_name,
    CASE
      WHEN r_country < 0.85 THEN ($6::text[])[1 + floor(power(r_country / 0.85, 1.8) * cardinality($6::text[]))::int]
      WHEN r_country < 0.95 THEN NULL
      WHEN r_country < 0.975 THEN ''
      ELSE '   '
    END AS country,
    CASE WHEN r_inst < 0.6 THEN ($7::text[])[1 + floor(r_inst / 0.6 * cardinality($7::text[]))::int] END AS institution,
    r_null < $8::float8 AS null_created,
    CASE
      WHEN r_bucket < 0.05 THEN r_age * 86400                             -- last 24 hours
      WHEN r_bucket < 0.20 THEN 86400 + r_age * 29 * 86400                -- rest of the last 30 days
      ELSE 3 * 365 * 86400 * (1 - sqrt(r_age))                            -- 3 years, growing
    END AS age,
    r_upd
  FROM (
    SELECT n, random() AS r_first, random() AS r_last, random() AS r_country, random() AS r_inst,
           random() AS r_null, random() AS r_bucket, random() AS r_age, random() AS r_upd
    FROM generate_series(1, $3::int) AS n
  ) AS draws
) AS users`;

const INSERT_SCRIPTS = `
INSERT INTO public.script (id, name, slug, description, created_at, updated_at, user_id, status, public)
SELECT
  md5('script:' || $2::text || ':' || n)::uuid,
  slug,
  slug,
  'Trends.Earth script ' || slug,
  $1::timestamp - r_age * 4 * 365 * 86400 * interval '1 second',
  $1::timestamp - r_age * 4 * 365 * 86400 * interval '1 second'
    + least(r_age * 4 * 365 * 86400, r_upd * 2 * 86400) * interval '1 second',
  CASE WHEN $3::int > 0 THEN md5('user:' || $2::text || ':' || (1 + (n - 1) % least($3::int, 3)))::uuid END,
  'SUCCESS',
  true
FROM (
  SELECT n, slug, random() AS r_age, random() AS r_upd
  FROM unnest($4::text[]) WITH ORDINALITY AS list (slug, n)
) AS draws`;

const INSERT_EXECUTIONS = `
INSERT INTO public.execution (id, start_date, end_date, status, progress, params, results, script_id, user_id)
SELECT
  md5('execution:' || $2::text || ':' || n)::uuid,
  start_date,
  CASE
    WHEN start_date IS NULL THEN NULL
    WHEN status IN ('FINISHED', 'FAILED', 'CANCELLED')
      OR (status IS NULL AND r_end < 0.5)
      OR r_end < 0.1
    THEN least(start_date + duration * interval '1 second', $1::timestamp)
  END,
  status,
  CASE status
    WHEN 'FINISHED' THEN 100
    WHEN 'FAILED' THEN floor(r_progress * 100)::int
    WHEN 'CANCELLED' THEN floor(r_progress * 60)::int
    WHEN 'RUNNING' THEN 1 + floor(r_progress * 98)::int
    WHEN 'PENDING' THEN 0
    WHEN 'READY' THEN 0
  END,
  '{}'::jsonb,
  '{}'::jsonb,
  CASE WHEN r_script_null >= 0.005 AND $4::int > 0
    THEN md5('script:' || $2::text || ':' || (1 + floor($4::int * power(r_script, 2))::int))::uuid
  END,
  CASE WHEN r_user_null >= 0.001 AND $5::int > 0
    THEN md5('user:' || $2::text || ':' || (1 + floor($5::int * power(r_user, 2))::int))::uuid
  END
FROM (
  SELECT
    n, status, r_end, r_progress, r_script_null, r_script, r_user_null, r_user,
    exp(ln(5) + r_duration * ln(4 * 3600 / 5.0)) AS duration,           -- 5 s .. 4 h, log-uniform
    CASE WHEN r_start_null >= $6::float8 THEN
      $1::timestamp - (CASE
        WHEN r_bucket < 0.10 THEN r_age * 86400                           -- last 24 hours
        WHEN r_bucket < 0.20 THEN 86400 + r_age * 6 * 86400               -- rest of the last week
        WHEN status IN ('RUNNING', 'PENDING', 'READY') AND r_bucket < 0.60
          THEN r_age * 86400                                              -- most live ones are fresh
        ELSE 3 * 365 * 86400 * (1 - sqrt(r_age))                          -- 3 years, growing
      END) * interval '1 second'
    END AS start_date
  FROM (
    SELECT
      n,
      CASE
        WHEN r_status < 0.005 THEN NULL
        WHEN r_status < 0.655 THEN 'FINISHED'
        WHEN r_status < 0.855 THEN 'FAILED'
        WHEN r_status < 0.935 THEN 'CANCELLED'
        WHEN r_status < 0.955 THEN 'RUNNING'
        WHEN r_status < 0.980 THEN 'PENDING'
        ELSE 'READY'
      END AS status,
      r_start_null, r_bucket, r_age, r_duration, r_end, r_progress, r_script_null, r_script, r_user_null, r_user
    FROM (
      SELECT n, random() AS r_status, random() AS r_start_null, random() AS r_bucket, random() AS r_age,
             random() AS r_duration, random() AS r_end, random() AS r_progress, random() AS r_script_null,
             random() AS r_script, random() AS r_user_null, random() AS r_user
      FROM generate_series(1, $3::int) AS n
    ) AS draws
  ) AS with_status
) AS executions`;

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

/** `date` as a naive UTC timestamp literal, e.g. '2026-06-15 12:34:56.000'. */
export function naiveUtc(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

/** Maps an integer seed onto setseed()'s [-1, 1]. */
function setseedValue(seed: number): number {
  return (seed % 2147483647) / 2147483647;
}

/** "A handful" of rows: about `handful` of `total`, as a probability clamped to [min, max]. */
function handfulProbability(total: number, handful: number, min: number, max: number): number {
  if (total <= 0) return 0;
  return Math.min(max, Math.max(min, handful / total));
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > 2_000_000_000) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

async function readSchema(): Promise<{ tables: string; postLoad: string }> {
  const text = await readFile(SCHEMA_URL, 'utf8');
  const marker = POST_LOAD_MARKER.exec(text);
  if (!marker) return { tables: text, postLoad: '' };
  return { tables: text.slice(0, marker.index), postLoad: text.slice(marker.index) };
}

/**
 * Applies tools/schema.sql to the (empty) database at `opts.databaseUrl` and fills it. Deterministic
 * for a given (seed, now, users, scripts, executions). Tables are loaded first, then the keys,
 * indexes and foreign keys are created, then the tables are vacuumed and analyzed.
 */
export async function seedDatabase(opts: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const seed = opts.seed ?? DEFAULT_SEED;
  checkCount('users', opts.users);
  checkCount('scripts', opts.scripts);
  checkCount('executions', opts.executions);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  if (!(opts.now instanceof Date) || Number.isNaN(opts.now.getTime())) throw new RangeError('now must be a valid Date');

  const now = naiveUtc(opts.now);
  const seedText = String(seed);
  const schema = await readSchema();
  const slugs = scriptSlugs(opts.scripts);

  const client = new pg.Client({ connectionString: opts.databaseUrl });
  await client.connect();
  try {
    const existing = await client.query<{ name: string }>(
      `SELECT relname AS name FROM pg_class
       WHERE relnamespace = 'public'::regnamespace AND relname IN ('user', 'script', 'execution')`,
    );
    if (existing.rows.length > 0) {
      const names = existing.rows.map((row) => row.name).join(', ');
      throw new Error(`database is not empty (has table ${names}); seed a fresh database (e.g. with --create)`);
    }

    await client.query(`SET synchronous_commit = off`);
    await client.query(`SET maintenance_work_mem = '256MB'`);
    await client.query(`SET jit = off`);

    await client.query('BEGIN');
    await client.query(schema.tables);
    await client.query('SELECT setseed($1::float8)', [setseedValue(seed)]);

    const users = await client.query(INSERT_USERS, [
      now, seedText, opts.users, FIRST_NAMES, LAST_NAMES, COUNTRIES, INSTITUTIONS,
      handfulProbability(opts.users, 8, 0.0005, 0.05),
    ]);
    const scripts = await client.query(INSERT_SCRIPTS, [now, seedText, opts.users, slugs]);
    const executions = await client.query(INSERT_EXECUTIONS, [
      now, seedText, opts.executions, slugs.length, opts.users,
      handfulProbability(opts.executions, 10, 0.0001, 0.01),
    ]);

    if (schema.postLoad) await client.query(schema.postLoad);
    await client.query('COMMIT');
    await client.query('VACUUM (ANALYZE) public."user", public.script, public.execution');

    return {
      users: users.rowCount ?? 0,
      scripts: scripts.rowCount ?? 0,
      executions: executions.rowCount ?? 0,
      ms: Math.round(performance.now() - started),
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}
