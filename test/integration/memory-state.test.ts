/**
 * The state in memory (src/state/) against a fresh read, step by step: the seeded differential
 * test of issue #24. Each property run copies the golden database, keeps a MemoryState, and
 * plays a random sequence of the changes the API makes (runs submitted, moved on, finished,
 * rewritten, deleted, their progress written; users registered, edited, logged in, deleted;
 * scripts added) and of clock moves
 * (seconds; to a row's window edge, a millisecond either side; across hour, day and month
 * boundaries). After every step the change probe is taken and heard by the state, then every
 * payload is computed twice at the same instant, from memory and by a fresh COPY, and the two
 * must be byte for byte equal.
 *
 * The probe watches only WATCHED runs by start and by end, so its watermarks matter. What the
 * indexed reads cannot see by design (docs/architecture.md#the-change-probe: a status set on
 * a run outside the watched windows, a user's country edited) may differ after a step, until
 * a reconciliation: for those steps the test forces one, checks that it reported the rows that
 * differed, and that the payloads are equal again. Any other difference is a failure.
 *
 * Seed: DIFFERENTIAL_SEED (DEFAULT_SEED below); DIFFERENTIAL_PATH replays one case fast-check
 * named, DIFFERENTIAL_REPLAY='[steps as JSON]' plays the steps given; DIFFERENTIAL_LOG=1 prints
 * every run's steps. Long mode: about DIFFERENTIAL_STEPS steps in all (`npm run differential`).
 * A failure is printed at once with its steps, then shrunk for up to DIFFERENTIAL_SHRINK_MS;
 * fast-check's report names the seed, the path and the shrunk steps.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/io/db.js';
import { createLogger } from '../../src/io/logger.js';
import { noReporter } from '../../src/io/reporter.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { WINDOWS_MS } from '../../src/lib/time.js';
import { type ChangeFingerprint, probeAt } from '../../src/pass/change-probe.js';
import type { MemorySource } from '../../src/pass/load.js';
import { parseBatchFile } from '../../src/requests/batch-file.js';
import { requestsFor, type StatsRequest } from '../../src/requests/batches.js';
import { parseRequest } from '../../src/requests/request.js';
import { runRefresh } from '../../src/run/refresh-run.js';
import { withInputs } from '../../src/pass/plan.js';
import { SECTION_SOURCES, type SectionName } from '../../src/stats/sections.js';
import type { PassKind } from '../../src/state/kept-passes.js';
import { MemoryState, type SyncKind } from '../../src/state/memory-state.js';
import { mismatchesOf, type StateDiff } from '../../src/state/state-diff.js';
import { databaseFromTemplate, GOLDEN_NOW, goldenTemplate, type TestDatabase } from '../helpers/services.js';

const DEFAULT_SEED = 240_024;
const SEED = process.env.DIFFERENTIAL_SEED ? Number(process.env.DIFFERENTIAL_SEED) : DEFAULT_SEED;
const REPLAY_PATH = process.env.DIFFERENTIAL_PATH;
/** A JSON array of steps (fast-check's counterexample, say) played once, in place of the random runs. */
const REPLAY_STEPS = process.env.DIFFERENTIAL_REPLAY;
/**
 * `ignore`: payloads that differ only in the order of an object's keys (the same JSON) pass,
 * counted. The default compares bytes, and a time series' `by_status` keys come in the order
 * the pass first meets each status: a COPY meets the rows in heap order, which a write no read
 * sees (a run's progress) changes, while memory replays them in the order it first read them.
 */
const KEY_ORDER = process.env.DIFFERENTIAL_KEY_ORDER === 'ignore' ? 'ignore' : 'strict';
/** Prints every run's steps and verdicts, passing or not. */
const PRINT_STEPS = Boolean(process.env.DIFFERENTIAL_LOG);
/** Long mode: about this many steps in all (absent: the short run `npm test` makes). */
const LONG_STEPS = process.env.DIFFERENTIAL_STEPS ? Number(process.env.DIFFERENTIAL_STEPS) : null;
/** The most steps one run plays (fast-check draws the length, and shrinks it). */
const MAX_STEPS = LONG_STEPS === null ? 60 : 100;
/** A run plays about 60% of its maximum (measured; lengths drawn without bias): runs enough for the steps asked. */
const RUNS = LONG_STEPS === null ? 5 : Math.max(1, Math.round(LONG_STEPS / (0.6 * MAX_STEPS)));

/**
 * How long fast-check may shrink a failure (each attempt replays steps on a fresh database, so a
 * long sequence could shrink for an hour): past it, the smallest failure found so far is reported.
 */
const SHRINK_BUDGET_MS = Number(process.env.DIFFERENTIAL_SHRINK_MS ?? 180_000);

/** Runs the probe watches by start and by end: few, so rows leave its view within a few steps. */
const WATCHED = 6;
/** The state's clock moves more than a count interval (60 s) per step: a backfill is counted at the next sync. */
const STATE_STEP_MS = 61_000;
/** Reconciles on its own after 5 steps without a load; a forced one moves the state's clock by this much. */
const RECONCILE_MS = 5 * 60_000;
/** How long a write may take to show in the statistics counters before the test gives up. */
const PUBLISH_BOUND_MS = 5_000;

const DAY_MS = 86_400_000;
const YEAR_MS = 365 * DAY_MS;
const FAMILIES = ['dashboard', 'executions', 'users'] as const;

/** Filters that meet the rows the steps write: the scripts' slugs, the odd countries. */
const EXTRA_REQUESTS = [
  'executions?period=all&group_by=week&task_type=urban',
  'executions?period=last_day&group_by=hour&task_type=sdg&status=RUNNING',
  'executions?period=last_week&group_by=quarter_hour&status=PENDING',
  'executions?period=last_month&group_by=day&task_type=a_b',
  'executions?period=last_year&group_by=month&task_type=pct%25',
  'users?period=last_week&group_by=day&country=%20%20',
  'users?period=all&group_by=month&country=C%C3%B4te%20d%E2%80%99Ivoire',
  'dashboard?period=last_day&include=summary,tasks',
];

const REQUESTS: readonly StatsRequest[] = [
  ...requestsFor([...FAMILIES]),
  ...parseBatchFile(readFileSync(new URL('../fixtures/golden/requests.txt', import.meta.url), 'utf8'), 'requests.txt').flatMap(({ target }) =>
    target.kind === 'request' ? [target.request] : [],
  ),
  ...EXTRA_REQUESTS.map((text) => parseRequest(text).request),
];

// ---------------------------------------------------------------------------------------------
// Steps

type Scope = 'newest' | 'any';
type TerminalStatus = 'FINISHED' | 'FAILED' | 'CANCELLED';
const TERMINAL: readonly TerminalStatus[] = ['FINISHED', 'FAILED', 'CANCELLED'];

/** A run as submitted: when it starts, and what each nullable column holds. */
interface Submission {
  readonly when: 'now' | 'backfill' | 'future' | 'no-start';
  /** How far before (backfill) or after (future) now it starts. */
  readonly offsetMs: number;
  /** Its end after its start (null: none). */
  readonly durationMs: number | null;
  readonly status: string | null;
  readonly script: 'known' | 'unknown' | 'none';
  readonly user: 'known' | 'none';
  readonly pick: number;
}

type Step =
  | ({ readonly kind: 'submit' } & Submission)
  /** A PENDING, READY or RUNNING run moves on (`to: 'next'`) or ends now. */
  | { readonly kind: 'transition'; readonly scope: Scope; readonly pick: number; readonly to: 'next' | TerminalStatus }
  /** A finished run's status rewritten, its dates untouched. */
  | { readonly kind: 'rewrite'; readonly scope: Scope; readonly pick: number; readonly to: TerminalStatus }
  | { readonly kind: 'delete-run'; readonly scope: Scope; readonly pick: number }
  /** A user and their runs, as the API deletes them. */
  | { readonly kind: 'delete-user'; readonly scope: Scope; readonly pick: number }
  /** What the API writes all day and no payload shows: a run's progress, a user's login. */
  | { readonly kind: 'progress'; readonly scope: Scope; readonly pick: number }
  | { readonly kind: 'login'; readonly scope: Scope; readonly pick: number }
  | { readonly kind: 'register'; readonly created: 'now' | 'none' | 'old'; readonly country: string | null }
  | { readonly kind: 'country'; readonly scope: Scope; readonly pick: number; readonly country: string | null }
  /** A script added; `adopt`: with the id of runs that named an unknown script. */
  | { readonly kind: 'script'; readonly slug: string; readonly adopt: boolean }
  | { readonly kind: 'tick'; readonly ms: number }
  /** To the instant a row leaves a window (`offset` ms either side). */
  | { readonly kind: 'edge'; readonly windowMs: number; readonly column: 'start' | 'end' | 'created'; readonly pick: number; readonly offset: -1 | 0 | 1 }
  | { readonly kind: 'boundary'; readonly unit: 'hour' | 'day' | 'month'; readonly offset: -1 | 0 | 1 };

const STATUSES = ['PENDING', 'PENDING', 'PENDING', 'READY', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELLED', null, 'odd', 'finished', ''] as const;
const COUNTRIES = ['Kenya', 'Brazil', 'United States', '', '  ', 'Côte d’Ivoire', null] as const;
const SLUGS = ['urban-change-v9-0', 'sdg-15-3-1-sub-indicators-9-9', 'a_b-v1-0', 'pct%slug-2-0', 'quality-check-1-0', 'productivity-9-9-9'] as const;

const scope = fc.constantFrom<Scope>('newest', 'newest', 'any');
const pick = fc.nat({ max: 1_000_000 });
const offset = fc.constantFrom<-1 | 0 | 1>(-1, 0, 1);

function submission(when: Submission['when'], offsetMs: fc.Arbitrary<number>, status: fc.Arbitrary<string | null>) {
  return fc.record({
    kind: fc.constant('submit' as const),
    when: fc.constant(when),
    offsetMs,
    // Mostly none for a run submitted now (the API sets the end when it ends), at times one anyway.
    durationMs: fc.oneof({ weight: when === 'now' ? 4 : 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 6 * 3_600_000 }) }),
    status,
    script: fc.constantFrom<Submission['script']>('known', 'known', 'known', 'unknown', 'none'),
    user: fc.constantFrom<Submission['user']>('known', 'known', 'known', 'none'),
    pick,
  });
}

const anyStatus = fc.constantFrom<string | null>(...STATUSES);

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 120_000 }) }) },
  { weight: 4, arbitrary: submission('now', fc.constant(0), fc.constantFrom<string | null>('PENDING', 'PENDING', 'PENDING', ...STATUSES)) },
  { weight: 1, arbitrary: submission('future', fc.integer({ min: 1_000, max: 400 * DAY_MS }), anyStatus) },
  { weight: 1, arbitrary: submission('backfill', fc.integer({ min: 60_000, max: 4 * YEAR_MS }), anyStatus) },
  { weight: 1, arbitrary: submission('no-start', fc.constant(0), anyStatus) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('transition' as const), scope, pick, to: fc.constantFrom<'next' | TerminalStatus>('next', 'next', ...TERMINAL) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rewrite' as const), scope, pick, to: fc.constantFrom(...TERMINAL) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-run' as const), scope, pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('progress' as const), scope, pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('login' as const), scope, pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-user' as const), scope, pick }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('register' as const), created: fc.constantFrom<'now' | 'none' | 'old'>('now', 'now', 'now', 'none', 'old'), country: fc.constantFrom(...COUNTRIES) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('country' as const), scope, pick, country: fc.constantFrom(...COUNTRIES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('script' as const), slug: fc.constantFrom(...SLUGS), adopt: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('edge' as const), windowMs: fc.constantFrom(...WINDOWS_MS), column: fc.constantFrom<'start' | 'end' | 'created'>('start', 'end', 'created'), pick, offset }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('boundary' as const), unit: fc.constantFrom<'hour' | 'day' | 'month'>('hour', 'day', 'month'), offset }) },
);

// ---------------------------------------------------------------------------------------------
// The API's session: writes, then waits for the statistics counters to show them

type Table = 'execution' | 'user';
type Counters = Record<Table, { inserted: number; deleted: number }>;

const COUNTERS_SQL = `SELECT pg_stat_get_tuples_inserted('execution'::regclass)::int AS ei, pg_stat_get_tuples_deleted('execution'::regclass)::int AS ed,
  pg_stat_get_tuples_inserted('"user"'::regclass)::int AS ui, pg_stat_get_tuples_deleted('"user"'::regclass)::int AS ud`;

async function countersOf(reader: pg.Pool): Promise<Counters> {
  const { rows } = await reader.query(COUNTERS_SQL);
  // The pool reads int4 as text (src/io/db.ts parses only int8 and booleans).
  const row = rows[0] as Record<'ei' | 'ed' | 'ui' | 'ud', string | number>;
  return { execution: { inserted: Number(row.ei), deleted: Number(row.ed) }, user: { inserted: Number(row.ui), deleted: Number(row.ud) } };
}

class ApiSession {
  private constructor(
    private readonly client: pg.Client,
    private readonly reader: pg.Pool,
    /** What the counters show once every write of this session is published. */
    private readonly expected: Counters,
  ) {}

  static async open(url: string, reader: pg.Pool): Promise<ApiSession> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return new ApiSession(client, reader, await countersOf(reader));
  }

  async rows<T>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.client.query(text, values)).rows as T[];
  }

  async insert(table: Table, text: string, values: unknown[]): Promise<void> {
    this.expected[table].inserted += (await this.client.query(text, values)).rowCount ?? 0;
  }

  async delete(table: Table, text: string, values: unknown[]): Promise<number> {
    const deleted = (await this.client.query(text, values)).rowCount ?? 0;
    this.expected[table].deleted += deleted;
    return deleted;
  }

  async update(text: string, values: unknown[]): Promise<number> {
    return (await this.client.query(text, values)).rowCount ?? 0;
  }

  /**
   * Publishes the session's counts (a backend publishes them only when idle, at most once a
   * second) and waits until another session reads them: the probe then sees every write.
   */
  async published(): Promise<void> {
    await this.client.query('SELECT pg_stat_force_next_flush()');
    const deadline = Date.now() + PUBLISH_BOUND_MS;
    for (;;) {
      const counters = await countersOf(this.reader);
      if (JSON.stringify(counters) === JSON.stringify(this.expected)) return;
      if (Date.now() > deadline) {
        throw new Error(`the statistics counters show ${JSON.stringify(counters)}, not ${JSON.stringify(this.expected)}, ${PUBLISH_BOUND_MS} ms after the writes`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// One property run's world

interface World {
  readonly database: TestDatabase;
  readonly db: Db;
  readonly pool: pg.Pool;
  readonly api: ApiSession;
  readonly state: MemoryState;
  /** The payloads' instant (ms). */
  now: number;
  /** The state's own clock (ms): reconcile interval and count interval. */
  stateClock: number;
  /** The fingerprint the state heard last. */
  fingerprint: ChangeFingerprint;
  /** The reconciliations heard since the last memory run began. */
  reconciles: StateDiff[];
  /** Ids handed out (uuids made from a counter: a replay writes the same rows). */
  ids: number;
  /** Script ids runs were submitted with that the script table lacks. */
  readonly unknownScripts: string[];
  /** The last step's first memory run: its sync, the step's visibility, the sections it built and reused. */
  lastRun: { readonly sync: SyncKind | null; readonly visibility: Visibility | null; readonly sections: SectionTally };
}

/** Sections a memory run built and reused; `passBuilt`: of those built, the ones reading the execution pass. */
interface SectionTally {
  built: number;
  reused: number;
  passBuilt: number;
}

/** The sections built from the execution pass (and so kept by its content version). */
const PASS_SECTIONS: ReadonlySet<string> = new Set(
  (Object.keys(SECTION_SOURCES) as SectionName[]).filter((section) => withInputs(SECTION_SOURCES[section]).has('execution_pass')),
);

/** A naive UTC timestamp, as the API stores them. */
const naive = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

function nextId(world: World): string {
  world.ids += 1;
  const hex = createHash('sha256').update(`differential/${world.ids}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

async function openWorld(): Promise<World> {
  const database = await databaseFromTemplate(goldenTemplate(), 'memory_state');
  try {
    // Runs naming a script the table does not hold (the API's foreign key is not everywhere): the
    // pass must count them the same from memory as from a COPY.
    await database.query('ALTER TABLE execution DROP CONSTRAINT execution_script_id_fkey');
    const { db, pool } = createDb({ url: database.url, tls: parsePostgresTls(database.url, 'DATABASE_URL'), applicationName: 'stats-refresh-test', poolSize: 2 });
    const api = await ApiSession.open(database.url, pool);
    const now = Date.parse(GOLDEN_NOW);
    const fingerprint = (await probeAt(pool, new Date(now), WATCHED)).fingerprint;
    const world: World = {
      database,
      db,
      pool,
      api,
      now,
      stateClock: 1_000_000_000,
      fingerprint,
      reconciles: [],
      ids: 0,
      unknownScripts: [],
      lastRun: { sync: null, visibility: null, sections: { built: 0, reused: 0, passBuilt: 0 } },
      state: new MemoryState({
        db,
        pool,
        clock: () => world.stateClock,
        reconcileIntervalMs: RECONCILE_MS,
        watched: WATCHED,
        // Each step observes a fingerprint first: the state probes only if that breaks.
        probe: () => probeAt(pool, new Date(world.now), WATCHED).then((reading) => reading.fingerprint),
        onReconcile: (diff) => void world.reconciles.push(diff),
      }),
    };
    return world;
  } catch (error) {
    await database.drop();
    throw error;
  }
}

async function closeWorld(world: World): Promise<void> {
  await world.api.close();
  await world.db.destroy();
  await world.database.drop();
}

// ---------------------------------------------------------------------------------------------
// Applying a step

/** What a step changed, for the verdict on it once the probe has looked. */
type Effect =
  | { readonly kind: 'none' | 'start' }
  | { readonly kind: 'run'; readonly id: string; readonly inserted: boolean }
  | { readonly kind: 'user'; readonly id: string }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'country'; readonly id: string };

const NONE: Effect = { kind: 'none' };

/** One id of `table` matching `where`, the pick-th in `order` (among the 8 first when `scope` is newest); null when none. */
async function pickId(world: World, table: Table, where: string, order: string, scope: Scope, pick: number, values: unknown[] = []): Promise<string | null> {
  const from = table === 'user' ? '"user"' : 'execution';
  const rows = await world.api.rows<{ id: string }>(
    `SELECT id::text AS id FROM ${from} WHERE ${where} ORDER BY ${order}, id
      OFFSET $1::bigint % greatest(least((SELECT count(*) FROM ${from} WHERE ${where}), $2::bigint), 1) LIMIT 1`,
    [pick, scope === 'newest' ? 8 : 1_000_000_000, ...values],
  );
  return rows[0]?.id ?? null;
}

const byRecency = 'coalesce(end_date, start_date) DESC NULLS LAST';

async function submit(world: World, step: Submission): Promise<Effect> {
  const start = { now: world.now, backfill: world.now - step.offsetMs, future: world.now + step.offsetMs, 'no-start': null }[step.when];
  const end = step.durationMs === null ? null : (start ?? world.now) + step.durationMs;
  let script: string | null = null;
  if (step.script === 'known') script = await anyScript(world, step.pick);
  if (step.script === 'unknown') {
    script = nextId(world);
    world.unknownScripts.push(script);
  }
  const user = step.user === 'known' ? await pickId(world, 'user', 'true', 'id', 'any', step.pick) : null;
  const id = nextId(world);
  await world.api.insert(
    'execution',
    `INSERT INTO execution (id, start_date, end_date, status, progress, params, results, script_id, user_id)
     VALUES ($1, $2, $3, $4, 0, '{}', '{}', $5, $6)`,
    [id, start === null ? null : naive(start), end === null ? null : naive(end), step.status, script, user],
  );
  return { kind: 'run', id, inserted: true };
}

async function anyScript(world: World, pick: number): Promise<string> {
  const rows = await world.api.rows<{ id: string }>('SELECT id::text AS id FROM script ORDER BY id OFFSET $1::bigint % (SELECT count(*) FROM script) LIMIT 1', [pick]);
  return rows[0]!.id;
}

const NEXT_STATUS: Readonly<Record<string, string>> = { PENDING: 'READY', READY: 'RUNNING', RUNNING: 'FINISHED' };

async function transition(world: World, step: Extract<Step, { kind: 'transition' }>): Promise<Effect> {
  const id = await pickId(world, 'execution', `status IN ('PENDING', 'READY', 'RUNNING')`, byRecency, step.scope, step.pick);
  if (id === null) return NONE;
  const [row] = await world.api.rows<{ status: string }>('SELECT status FROM execution WHERE id = $1', [id]);
  const to = step.to === 'next' ? NEXT_STATUS[row!.status]! : step.to;
  // The API stamps the end when a run reaches a terminal status.
  const ends = (TERMINAL as readonly string[]).includes(to);
  await world.api.update(`UPDATE execution SET status = $2${ends ? ', end_date = $3' : ''} WHERE id = $1`, ends ? [id, to, naive(world.now)] : [id, to]);
  return { kind: 'run', id, inserted: false };
}

async function rewrite(world: World, step: Extract<Step, { kind: 'rewrite' }>): Promise<Effect> {
  const id = await pickId(world, 'execution', `status IN ('FINISHED', 'FAILED', 'CANCELLED') AND status <> '${step.to}'`, byRecency, step.scope, step.pick);
  if (id === null) return NONE;
  await world.api.update('UPDATE execution SET status = $2 WHERE id = $1', [id, step.to]);
  return { kind: 'run', id, inserted: false };
}

async function deleteRun(world: World, step: Extract<Step, { kind: 'delete-run' }>): Promise<Effect> {
  const id = await pickId(world, 'execution', 'true', byRecency, step.scope, step.pick);
  if (id === null) return NONE;
  await world.api.delete('execution', 'DELETE FROM execution WHERE id = $1', [id]);
  return { kind: 'deleted' };
}

async function deleteUser(world: World, step: Extract<Step, { kind: 'delete-user' }>): Promise<Effect> {
  // A user who wrote a script stays (the script table's foreign key): the API refuses that too.
  const id = await pickId(world, 'user', 'NOT EXISTS (SELECT FROM script s WHERE s.user_id = "user".id)', 'created_at DESC NULLS LAST', step.scope, step.pick);
  if (id === null) return NONE;
  await world.api.delete('execution', 'DELETE FROM execution WHERE user_id = $1', [id]);
  await world.api.delete('user', 'DELETE FROM "user" WHERE id = $1', [id]);
  return { kind: 'deleted' };
}

async function writeProgress(world: World, step: Extract<Step, { kind: 'progress' }>): Promise<Effect> {
  const id = await pickId(world, 'execution', 'true', byRecency, step.scope, step.pick);
  if (id !== null) await world.api.update(`UPDATE execution SET progress = coalesce(progress, 0) % 100 + 1, results = '{"step": 1}' WHERE id = $1`, [id]);
  return NONE;
}

async function logIn(world: World, step: Extract<Step, { kind: 'login' }>): Promise<Effect> {
  const id = await pickId(world, 'user', 'true', 'created_at DESC NULLS LAST', step.scope, step.pick);
  if (id !== null) await world.api.update('UPDATE "user" SET updated_at = $2 WHERE id = $1', [id, naive(world.now)]);
  return NONE;
}

async function register(world: World, step: Extract<Step, { kind: 'register' }>): Promise<Effect> {
  const created = { now: naive(world.now), none: null, old: naive(world.now - 2 * YEAR_MS) }[step.created];
  const id = nextId(world);
  await world.api.insert(
    'user',
    `INSERT INTO "user" (id, email, name, country, password, created_at, updated_at, role) VALUES ($1::uuid, $1::text || '@example.org', 'differential', $2, 'x', $3, $3, 'USER')`,
    [id, step.country, created],
  );
  return { kind: 'user', id };
}

async function editCountry(world: World, step: Extract<Step, { kind: 'country' }>): Promise<Effect> {
  const id = await pickId(world, 'user', 'country IS DISTINCT FROM $3::text', 'created_at DESC NULLS LAST', step.scope, step.pick, [step.country]);
  if (id === null) return NONE;
  await world.api.update('UPDATE "user" SET country = $2 WHERE id = $1', [id, step.country]);
  return { kind: 'country', id };
}

async function addScript(world: World, step: Extract<Step, { kind: 'script' }>): Promise<Effect> {
  const id = step.adopt && world.unknownScripts.length > 0 ? world.unknownScripts.shift()! : nextId(world);
  // Slugs are unique: the counter moves for every script, adopted ids too.
  world.ids += 1;
  const slug = `${step.slug}-${world.ids}`;
  await world.api.rows(`INSERT INTO script (id, name, slug, status, public, created_at) VALUES ($1, $2, $2, 'SUCCESS', true, $3)`, [id, slug, naive(world.now)]);
  return NONE;
}

/** The instant the pick-th oldest row still in the window leaves it (`offset` ms either side), if any. */
async function windowEdge(world: World, step: Extract<Step, { kind: 'edge' }>): Promise<number | null> {
  const [table, column] = { start: ['execution', 'start_date'], end: ['execution', 'end_date'], created: ['"user"', 'created_at'] }[step.column];
  // Rows after now - W + 1 ms: even a millisecond before their edge is not in the past.
  const rows = await world.api.rows<{ ms: string }>(
    `SELECT floor(extract(epoch FROM ${column}) * 1000)::bigint::text AS ms FROM ${table} WHERE ${column} > $1::timestamp ORDER BY ${column} OFFSET $2::int % 4 LIMIT 1`,
    [naive(world.now - step.windowMs + 1), step.pick],
  );
  return rows[0] ? Number(rows[0].ms) + step.windowMs + step.offset : null;
}

/** The first hour, day or month boundary after now, `offset` ms either side, still after now. */
function boundaryAfter(now: number, unit: 'hour' | 'day' | 'month', offset: number): number {
  const next = (from: number) => {
    const date = new Date(from);
    if (unit === 'hour') return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours() + 1);
    if (unit === 'day') return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
    return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  };
  const first = next(now);
  return first + offset > now ? first + offset : next(first) + offset;
}

async function moveClock(world: World, step: Extract<Step, { kind: 'tick' | 'edge' | 'boundary' }>): Promise<Effect> {
  if (step.kind === 'tick') world.now += step.ms;
  if (step.kind === 'boundary') world.now = boundaryAfter(world.now, step.unit, step.offset);
  if (step.kind === 'edge') world.now = Math.max(world.now, (await windowEdge(world, step)) ?? world.now + 1);
  return NONE;
}

async function apply(world: World, step: Step): Promise<Effect> {
  switch (step.kind) {
    case 'submit':
      return submit(world, step);
    case 'transition':
      return transition(world, step);
    case 'rewrite':
      return rewrite(world, step);
    case 'delete-run':
      return deleteRun(world, step);
    case 'delete-user':
      return deleteUser(world, step);
    case 'progress':
      return writeProgress(world, step);
    case 'login':
      return logIn(world, step);
    case 'register':
      return register(world, step);
    case 'country':
      return editCountry(world, step);
    case 'script':
      return addScript(world, step);
    default:
      return moveClock(world, step);
  }
}

// ---------------------------------------------------------------------------------------------
// The verdict on a step

/**
 * How the state can learn of a step's change:
 * - found: an indexed read finds it (the sync need not reload);
 * - counted: only the insert counter tells of it, and a count confirms it (a reload);
 * - deleted: the delete counters move (a reload);
 * - unseen: by design, nothing does until a reconciliation;
 * - none: no execution or user row changed;
 * - start: before the first step, the state holds nothing (a load).
 */
type Visibility = 'found' | 'counted' | 'deleted' | 'unseen' | 'none' | 'start';

/** The earlier of two watermarks; null (every row is read) when either is. */
const earlier = (a: string | null, b: string | null) => (a === null || b === null ? null : a < b ? a : b);

/**
 * Whether a read after `after` (the state last read at `before`) finds the row: the state's
 * documented contract, executions started or ended at or after the earlier of the two
 * fingerprints' watermarks, users created at or after the newest registration's.
 */
async function isFound(world: World, effect: Extract<Effect, { kind: 'run' | 'user' | 'country' }>, before: ChangeFingerprint, after: ChangeFingerprint): Promise<boolean> {
  if (effect.kind !== 'run') {
    const since = earlier(before.users.newestCreated, after.users.newestCreated);
    if (since === null) return true;
    const [row] = await world.api.rows<{ found: boolean }>('SELECT coalesce(created_at >= $2::timestamp, false) AS found FROM "user" WHERE id = $1', [effect.id, since]);
    return row!.found;
  }
  const started = earlier(before.executions.startedSince, after.executions.startedSince);
  const ended = earlier(before.executions.endedSince, after.executions.endedSince);
  if (started === null || ended === null) return true;
  const [row] = await world.api.rows<{ found: boolean }>(
    'SELECT coalesce(start_date >= $2::timestamp, false) OR coalesce(end_date >= $3::timestamp, false) AS found FROM execution WHERE id = $1',
    [effect.id, started, ended],
  );
  return row!.found;
}

async function visibilityOf(world: World, effect: Effect, before: ChangeFingerprint, after: ChangeFingerprint): Promise<Visibility> {
  switch (effect.kind) {
    case 'none':
    case 'start':
    case 'deleted':
      return effect.kind;
    case 'country':
      return 'unseen';
    case 'user':
      return (await isFound(world, effect, before, after)) ? 'found' : 'counted';
    case 'run':
      if (await isFound(world, effect, before, after)) return 'found';
      return effect.inserted ? 'counted' : 'unseen';
  }
}

/**
 * The sync kinds each visibility allows: what the reads find is read (never a reload, never
 * skipped); what the probe cannot see may leave its fingerprint as it was (nothing read); a
 * reconciliation may come at any time.
 */
const ALLOWED_SYNCS: Readonly<Record<Visibility, readonly SyncKind[]>> = {
  found: ['incremental', 'reconcile'],
  none: ['unchanged', 'incremental', 'reconcile'],
  counted: ['reload', 'reconcile'],
  deleted: ['reload'],
  unseen: ['unchanged', 'incremental', 'reconcile'],
  start: ['reload'],
};

/** Every payload of a dry run at `now`, from memory or (without `memory`) by COPY; no request may fail. */
async function payloadsAt(world: World, now: number, memory?: MemorySource): Promise<ReadonlyMap<string, string>> {
  const run = await runRefresh(
    {
      command: 'differential',
      requests: REQUESTS.map((request) => ({ request, origin: 'batch' as const })),
      families: [...FAMILIES],
      now: new Date(now),
      ttlSeconds: 300,
      concurrency: 2,
      dryRun: true,
      retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
    },
    { db: world.db, pool: world.pool, cache: null, logger: createLogger('silent'), reporter: noReporter, secrets: [], ...(memory ? { memory } : {}) },
  );
  const failed = run.results.filter((result) => result.error !== null);
  if (failed.length > 0) throw new Error(`${memory ? 'memory' : 'fresh'} run failed: ${failed.map((result) => `${result.label}: ${result.error!.message}`).join('; ')}`);
  if (memory) lastMemoryStatements = run.statements;
  return run.payloads!;
}

/** The statements the last memory run sent. */
let lastMemoryStatements = 0;

/** A memory run, with the kind of its one sync (the run's statements are not retried) and the sections it built and reused. */
async function memoryPayloads(world: World): Promise<{ payloads: ReadonlyMap<string, string>; sync: SyncKind; sections: SectionTally }> {
  world.reconciles = [];
  const before = { ...world.state.passes };
  const reused = { ...world.state.reads.reused };
  const counts = world.state.sections.counts;
  const sectionsBefore = { built: counts.built, reused: counts.reused, passBuilt: passBuilt(world) };
  const payloads = await payloadsAt(world, world.now, world.state);
  if (world.state.lastSync === null) throw new Error('the memory run did not sync');
  for (const kind of PASS_KINDS) tally.passes[kind] += world.state.passes[kind] - before[kind];
  if (world.state.lastSync === 'unchanged') {
    // Time alone passed: the catalog and the scripts come from the last read, and the only
    // statement left is the emails of users who rank now and did not before.
    const { catalog, scripts } = world.state.reads.reused;
    if (catalog !== reused.catalog + 1 || scripts !== reused.scripts + 1 || lastMemoryStatements > 1) {
      throw new StepFailure(`a time-only run reused the catalog ${catalog - reused.catalog} and the scripts ${scripts - reused.scripts} times, and sent ${lastMemoryStatements} statements`);
    }
    tally.quiet.runs += 1;
    if (lastMemoryStatements === 0) tally.quiet.silent += 1;
  }
  const sections = { built: counts.built - sectionsBefore.built, reused: counts.reused - sectionsBefore.reused, passBuilt: passBuilt(world) - sectionsBefore.passBuilt };
  tally.sections.built += sections.built;
  tally.sections.reused += sections.reused;
  return { payloads, sync: world.state.lastSync, sections };
}

/** Sections reading the execution pass the state's runs built so far. */
function passBuilt(world: World): number {
  let built = 0;
  for (const [section, counts] of world.state.sections.counts.bySection) if (PASS_SECTIONS.has(section)) built += counts.built;
  return built;
}

/** The path of the first object whose keys come in another order in `b` (the values otherwise equal); null if none. */
function keyOrderPath(a: unknown, b: unknown, path = '$'): string | null {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return null;
  const [keysA, keysB] = [Object.keys(a), Object.keys(b)];
  if (!Array.isArray(a) && keysA.join('\u0000') !== keysB.join('\u0000')) return path;
  for (const key of keysA) {
    const inner = keyOrderPath((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], Array.isArray(a) ? `${path}[${key}]` : `${path}.${key}`);
    if (inner !== null) return inner;
  }
  return null;
}

/** Whether two payloads are the same JSON but for the order of some object's keys. */
function sameButKeyOrder(a: string, b: string): boolean {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : typeof value === 'object' && value !== null
        ? Object.fromEntries(Object.entries(value).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([key, inner]) => [key, canonical(inner)]))
        : value;
  return JSON.stringify(canonical(JSON.parse(a))) === JSON.stringify(canonical(JSON.parse(b)));
}

/** Payloads that differ only in the order of some object's keys, under DIFFERENTIAL_KEY_ORDER=ignore. */
let keyOrderOnly = 0;

/** The first key whose payloads differ, with the two values around the first differing character; null when equal. */
function firstDifference(memory: ReadonlyMap<string, string>, fresh: ReadonlyMap<string, string>): string | null {
  const keys = [...new Set([...memory.keys(), ...fresh.keys()])].sort();
  for (const key of keys) {
    const [ours, theirs] = [memory.get(key), fresh.get(key)];
    if (ours === theirs) continue;
    if (ours === undefined || theirs === undefined) return `${key}: only the ${ours === undefined ? 'fresh' : 'memory'} run has it`;
    const orderOnly = sameButKeyOrder(ours, theirs);
    if (orderOnly && KEY_ORDER === 'ignore') {
      keyOrderOnly += 1;
      continue;
    }
    let at = 0;
    while (ours[at] === theirs[at]) at++;
    const around = (text: string) => `${at > 300 ? '…' : ''}${text.slice(Math.max(0, at - 300), at + 300)}${text.length > at + 300 ? '…' : ''}`;
    const kind = orderOnly ? ` (the same JSON: only the order of the keys of ${keyOrderPath(JSON.parse(ours), JSON.parse(theirs))} differs)` : '';
    return `${key} differs at character ${at}${kind} (lengths ${ours.length} and ${theirs.length})\n  memory: ${around(ours)}\n  fresh:  ${around(theirs)}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The property

interface Tally {
  runs: number;
  steps: number;
  syncs: Record<SyncKind, number>;
  visibility: Record<Visibility, number>;
  /** Steps whose payloads differed by design, then were repaired by a reconciliation. */
  repaired: number;
  /** Natural reconciliations (the interval passed) that found memory exact. */
  exactReconciles: number;
  /** Reconciliations forced after a change the reads cannot see. */
  forced: number;
  /** Of the repaired: stale rows the reconciliation re-read before comparing, so did not count. */
  rereadStale: number;
  /** How the memory runs' execution passes were made: a kept pass moved on, replayed, or fed by a reload. */
  passes: Record<PassKind, number>;
  /** Steps whose validity horizon from memory was compared with the probe's. */
  horizons: number;
  /** Sections the memory runs built and reused (their texts kept from the run before). */
  sections: { built: number; reused: number };
  /** Per step kind: steps, and those whose memory run built at least one section. */
  rebuiltAfter: Record<string, { steps: number; rebuilt: number }>;
  /** Clock moves (nothing written, nothing read): with every pass section reused (no row crossed an edge), and with some rebuilt (rows crossed). */
  timeOnly: { still: number; crossed: number };
  /** Memory runs after time alone passed (their catalog and scripts reused), and those that sent no statement. */
  quiet: { runs: number; silent: number };
}

const PASS_KINDS: readonly PassKind[] = ['fed', 'replayed', 'moved'];

const tally: Tally = {
  runs: 0,
  steps: 0,
  syncs: { unchanged: 0, incremental: 0, reload: 0, reconcile: 0 },
  visibility: { found: 0, counted: 0, deleted: 0, unseen: 0, none: 0, start: 0 },
  repaired: 0,
  exactReconciles: 0,
  forced: 0,
  rereadStale: 0,
  passes: { fed: 0, replayed: 0, moved: 0 },
  horizons: 0,
  sections: { built: 0, reused: 0 },
  rebuiltAfter: {},
  timeOnly: { still: 0, crossed: 0 },
  quiet: { runs: 0, silent: 0 },
};

/** Visibilities of a change the state reads into its rows: every section built from them must be built again. */
const READ_CHANGES: ReadonlySet<Visibility> = new Set(['found', 'counted', 'deleted', 'start']);

/** Tallies what a step's memory run built and reused, by the step's kind. */
function tallySections(world: World, step: Step): void {
  const { sync, visibility, sections } = world.lastRun;
  const counts = (tally.rebuiltAfter[step.kind] ??= { steps: 0, rebuilt: 0 });
  counts.steps += 1;
  if (sections.built > 0) counts.rebuilt += 1;
  // The clock alone moved: no row changed, none read (a reconciliation would replay every pass).
  if ((step.kind === 'tick' || step.kind === 'edge' || step.kind === 'boundary') && visibility === 'none' && sync === 'unchanged') {
    if (sections.passBuilt === 0) tally.timeOnly.still += 1;
    else tally.timeOnly.crossed += 1;
  }
}

const describeStep = (step: Step) => JSON.stringify(step);

class StepFailure extends Error {}

/** Checks one step after it was applied: probe, both runs, the verdict. Returns a line for the log. */
async function checkStep(world: World, effect: Effect): Promise<string> {
  const before = world.fingerprint;
  world.stateClock += STATE_STEP_MS;
  const reading = await probeAt(world.pool, new Date(world.now), WATCHED);
  world.fingerprint = reading.fingerprint;
  world.state.observe(world.fingerprint);
  const visibility = await visibilityOf(world, effect, before, world.fingerprint);
  const memory = await memoryPayloads(world);
  world.lastRun = { sync: memory.sync, visibility, sections: memory.sections };
  const fresh = await payloadsAt(world, world.now);
  const line = `${visibility}, ${memory.sync} at ${new Date(world.now).toISOString()}, sections built ${memory.sections.built} (of the pass ${memory.sections.passBuilt}), reused ${memory.sections.reused}`;
  tally.visibility[visibility] += 1;
  tally.syncs[memory.sync] += 1;
  if (!ALLOWED_SYNCS[visibility].includes(memory.sync)) throw new StepFailure(`a change the state can tell (${visibility}) synced as '${memory.sync}' (${ALLOWED_SYNCS[visibility].join(' or ')} expected)`);
  // Rows read moved a version: a run that reused every section would not have looked at them.
  if (READ_CHANGES.has(visibility) && memory.sections.built === 0) throw new StepFailure(`a change read into memory (${visibility}, ${memory.sync}) rebuilt no section`);
  if (memory.sync === 'reconcile' && (visibility === 'found' || visibility === 'none')) {
    // Nothing unseen is pending (each unseen step is reconciled at once): memory must be exact.
    const mismatches = mismatchesOf(world.reconciles[0]!);
    if (mismatches !== 0) throw new StepFailure(`a reconciliation found ${mismatches} rows in memory that differ from the table: ${JSON.stringify(world.reconciles[0])}`);
    tally.exactReconciles += 1;
  }
  const difference = firstDifference(memory.payloads, fresh);
  if (visibility !== 'unseen') {
    if (difference !== null) throw new StepFailure(`payloads from memory differ from a fresh read (${line}):\n${difference}`);
    checkHorizon(world, reading.validUntil);
    return line;
  }
  // A row in the windows the reconciliation re-reads before comparing is fixed in memory first:
  // its diff cannot count it (a user's country edited while the probe saw nothing move).
  const reread = effect.kind === 'country' && (await isFound(world, effect, before, world.fingerprint));
  const repaired = await reconcileUnseen(world, fresh, difference, reread);
  checkHorizon(world, reading.validUntil);
  return `${line}${repaired}`;
}

/** The horizon found in memory is the one the probe's statement finds in the table, to the millisecond. */
function checkHorizon(world: World, probed: Date | null): void {
  const held = world.state.validUntil(world.now);
  const text = (bound: Date | null | undefined) => (bound === undefined ? 'no rows held' : (bound?.toISOString() ?? 'no bound'));
  if (text(held) !== text(probed)) throw new StepFailure(`the validity horizon from memory (${text(held)}) is not the probe's (${text(probed)})`);
  tally.horizons += 1;
}

/**
 * After a change the reads cannot see: a forced reconciliation must repair it, and report the
 * rows that differed unless the changed row is one it re-reads before comparing (`reread`).
 */
async function reconcileUnseen(world: World, fresh: ReadonlyMap<string, string>, difference: string | null, reread: boolean): Promise<string> {
  world.stateClock += RECONCILE_MS;
  const repaired = await memoryPayloads(world);
  if (repaired.sync !== 'reconcile') throw new StepFailure(`the forced reconciliation synced as '${repaired.sync}'`);
  tally.forced += 1;
  const mismatches = mismatchesOf(world.reconciles[0]!);
  if (difference !== null && mismatches === 0 && !reread) throw new StepFailure(`the payloads differed, yet the reconciliation found memory exact:\n${difference}`);
  const after = firstDifference(repaired.payloads, fresh);
  if (after !== null) throw new StepFailure(`payloads still differ after a reconciliation:\n${after}`);
  if (difference !== null) tally.repaired += 1;
  if (difference !== null && mismatches === 0) tally.rereadStale += 1;
  return `, reconciled (${mismatches} rows differed${difference === null ? ', payloads equal' : ', payloads differed'}${reread ? ', the row re-read' : ''})`;
}

/** When the first failure was found (null: none yet), and so when shrinking began. */
let firstFailureAt: number | null = null;

/** Reports the first failure at once, before fast-check shrinks it. */
function firstFailure(message: string): void {
  if (firstFailureAt !== null) return;
  firstFailureAt = performance.now();
  console.log(`differential: seed ${SEED}: a failure, shrinking it for up to ${SHRINK_BUDGET_MS / 1000} s (DIFFERENTIAL_SHRINK_MS):\n${message}`);
}

async function play(steps: readonly Step[]): Promise<void> {
  // Past the shrink budget a candidate passes unplayed: fast-check stops at the smallest failure so far.
  if (firstFailureAt !== null && performance.now() - firstFailureAt > SHRINK_BUDGET_MS) return;
  const world = await openWorld();
  const log: string[] = [];
  try {
    tally.runs += 1;
    const initial = await checkStep(world, { kind: 'start' });
    log.push(`start: ${initial}`);
    for (const [index, step] of steps.entries()) {
      try {
        const effect = await apply(world, step);
        await world.api.published();
        const line = await checkStep(world, effect);
        tallySections(world, step);
        log.push(`#${index}: ${describeStep(step)} → ${line}`);
      } catch (error) {
        log.push(`#${index}: ${describeStep(step)} → FAILED`);
        const message = `step ${index} of ${steps.length} failed: ${(error as Error).message}\nsteps:\n${log.join('\n')}`;
        firstFailure(message);
        throw new Error(message, { cause: error });
      }
      tally.steps += 1;
    }
    if (PRINT_STEPS) console.log(log.join('\n'));
  } finally {
    await closeWorld(world);
  }
}

describe('the state in memory against a fresh read (seeded differential)', () => {
  const began = performance.now();

  afterAll(() => {
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    console.log(`differential: seed ${SEED}, ${tally.runs} runs, ${tally.steps} steps in ${seconds} s; syncs ${JSON.stringify(tally.syncs)}; steps ${JSON.stringify(tally.visibility)}; ${tally.forced} reconciliations forced, ${tally.repaired} differences by design repaired (${tally.rereadStale} of them not counted: re-read); ${tally.exactReconciles} reconciliations on the interval found memory exact; execution passes ${JSON.stringify(tally.passes)}; sections ${JSON.stringify(tally.sections)}, rebuilt after ${JSON.stringify(tally.rebuiltAfter)}, clock moves ${JSON.stringify(tally.timeOnly)}; ${tally.quiet.runs} time-only runs, ${tally.quiet.silent} of them without a statement${KEY_ORDER === 'ignore' ? `; ${keyOrderOnly} payloads differed only in key order (ignored)` : ''}`);
  });

  it(
    `every payload from memory equals a fresh read after every step (seed ${SEED})`,
    async () => {
      if (REPLAY_STEPS) {
        await play(JSON.parse(REPLAY_STEPS) as Step[]);
        return;
      }
      console.log(`differential: seed ${SEED} (DIFFERENTIAL_SEED), ${RUNS} runs of up to ${MAX_STEPS} steps`);
      // Without bias: fast-check would otherwise draw mostly short sequences.
      await fc.assert(fc.asyncProperty(fc.noBias(fc.array(stepArbitrary, { minLength: 1, maxLength: MAX_STEPS, size: 'max' })), play), {
        seed: SEED,
        numRuns: RUNS,
        ...(REPLAY_PATH ? { path: REPLAY_PATH } : {}),
      });
      // A test that cannot fail is a defect: the steps must have reached each path of the state.
      expect(tally.visibility.found, 'changes the reads find').toBeGreaterThan(0);
      expect(tally.syncs.incremental, 'incremental syncs').toBeGreaterThan(0);
      expect(tally.syncs.reload, 'reloads').toBeGreaterThan(0);
      expect(tally.syncs.reconcile, 'reconciliations').toBeGreaterThan(0);
      expect(tally.visibility.counted, 'changes only a count finds').toBeGreaterThan(0);
      expect(tally.repaired, 'differences by design, repaired').toBeGreaterThan(0);
      // Most passes must come from a kept pass moved on, not from a replay of every row.
      const passes = PASS_KINDS.reduce((sum, kind) => sum + tally.passes[kind], 0);
      expect(tally.passes.moved / passes, `the share of passes moved on (${JSON.stringify(tally.passes)})`).toBeGreaterThan(0.5);
      expect(tally.horizons, 'horizons compared with the probe\'s').toBe(tally.steps + tally.runs);
      expect(tally.quiet.silent, 'time-only runs without a statement').toBeGreaterThan(0);
      // The payloads above went through the kept texts: a good share reused, so equality proves the reuse rules.
      const sections = tally.sections.built + tally.sections.reused;
      expect(tally.sections.reused / sections, `the share of sections reused (${JSON.stringify(tally.sections)})`).toBeGreaterThan(0.25);
      // Every change read rebuilt (checked at each step); each kind of change rebuilt some sections.
      for (const kind of ['submit', 'transition', 'rewrite', 'register'] as const) {
        expect(tally.rebuiltAfter[kind]?.rebuilt ?? 0, `steps '${kind}' that rebuilt sections`).toBeGreaterThan(0);
      }
      // Clock moves across windows' edges: with no row crossing (every pass section reused), and with rows crossing (rebuilt).
      expect(tally.timeOnly.still, 'clock moves with no row crossing an edge').toBeGreaterThan(0);
      expect(tally.timeOnly.crossed, 'clock moves with rows crossing an edge').toBeGreaterThan(0);
    },
    LONG_STEPS === null ? 600_000 : Math.max(600_000, LONG_STEPS * 5_000),
  );
});
