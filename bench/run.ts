/**
 * Benchmark of `stats-refresh refresh <family>` on a deterministic database.
 *
 *   npm run bench -- [--database-url URL] [--users N] [--scripts N] [--executions N] [--runs N]
 *                    [--family all|dashboard|executions|users] [--concurrency N] [--scale] [--json]
 *                    [--cli PATH] [--compare PATH] [--node PATH] [--help-runs N]
 *
 * Seeds the bench database with tools/seed-lib.ts when it is missing or its row counts differ,
 * runs the built CLI once as a warm-up and then `--runs` times (and, for `all`, every family on
 * its own as many times), and prints, per family: the CPU of the PostgreSQL processes serving
 * the run (the figure that matters: the API shares that database), bytes received from
 * PostgreSQL, wall time, statements (cross-checked on the server), peak RSS and the CLI's CPU;
 * then the database CPU per hour of the default schedules, and the start-up of `--help`. With
 * `--compare`, a second build runs on the same data in the same session, the two alternating
 * run by run (so both see the same load on a shared machine), and the table shows both. It
 * reports; it asserts nothing. See docs/performance.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startCpuSampler } from './cpu-sampler.js';
import { createDatabase, DEFAULT_SEED, databaseName, seedDatabase, withDatabase } from '../tools/seed-lib.js';


const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
/** The fixed instant the database is seeded for and every run computes at. */
const NOW = '2026-06-15T12:34:56Z';
const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/stats_refresh_bench';
const DEFAULT_REDIS = 'redis://127.0.0.1:6379/15';
/** The bench writes to (and flushes) this Redis logical database only. */
const REDIS_DB = 15;
const FAMILIES = ['all', 'dashboard', 'executions', 'users'] as const;
type Family = (typeof FAMILIES)[number];
/** What a run refreshes: a family, or `all` plus the golden fixture's 16 requests (filters the batches lack). */
/** `all+compare`: `refresh all` with every key it writes found as the API's, so the drift check compares all 41. */
type Variant = Family | 'all+requests' | 'all+compare';
const REQUESTS_FILE = fileURLToPath(new URL('../test/fixtures/golden/requests.txt', import.meta.url));

function refreshArgs(variant: Variant): string[] {
  if (variant === 'all+requests') return ['refresh', 'all', '--batch-file', REQUESTS_FILE];
  return ['refresh', variant === 'all+compare' ? 'all' : variant];
}
const SCALE_EXECUTIONS = [250_000, 1_000_000, 4_000_000];

interface Options {
  /** The CLIs to run (default dist/cli.js; a second with --compare), alternating run by run. */
  clis: string[];
  /** The Node.js binary the CLIs run on (default: the one running the bench). */
  node: string;
  /** Runs of `--help`, timed from spawn to exit. */
  helpRuns: number;
  databaseUrl: string;
  redisUrl: string;
  users: number;
  scripts: number;
  executions: number;
  runs: number;
  family: Family;
  concurrency: number | null;
  scale: boolean;
  json: boolean;
}

class UsageError extends Error {}

function count(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** The Redis URL from the environment, always pointed at the bench's logical database. */
function benchRedisUrl(fromEnv: string | undefined): string {
  const url = new URL(fromEnv || DEFAULT_REDIS);
  url.pathname = `/${REDIS_DB}`;
  return url.toString();
}

function parseCli(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'database-url': { type: 'string' },
        cli: { type: 'string' },
        compare: { type: 'string' },
        node: { type: 'string' },
        'help-runs': { type: 'string' },
        users: { type: 'string' },
        scripts: { type: 'string' },
        executions: { type: 'string' },
        runs: { type: 'string' },
        family: { type: 'string' },
        concurrency: { type: 'string' },
        scale: { type: 'boolean' },
        json: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const family = (values.family ?? 'all') as Family;
  if (!FAMILIES.includes(family)) throw new UsageError(`--family must be one of ${FAMILIES.join(', ')}`);
  const databaseUrl = values['database-url'] ?? process.env.BENCH_DATABASE_URL ?? DEFAULT_URL;
  const name = databaseName(databaseUrl);
  if (!name || ['postgres', 'template0', 'template1'].includes(name)) {
    throw new UsageError(`--database-url must name the bench's own database, got ${JSON.stringify(name)}`);
  }
  return {
    clis: [values.cli ? path.resolve(values.cli) : CLI, ...(values.compare ? [path.resolve(values.compare)] : [])],
    node: values.node ? path.resolve(values.node) : process.execPath,
    helpRuns: count('help-runs', values['help-runs'], 10),
    databaseUrl,
    redisUrl: benchRedisUrl(process.env.REDIS_URL),
    users: count('users', values.users, 100_000),
    scripts: count('scripts', values.scripts, 500),
    executions: count('executions', values.executions, 1_000_000),
    runs: count('runs', values.runs, 5, 1),
    family,
    concurrency: values.concurrency === undefined ? null : count('concurrency', values.concurrency, 3, 1),
    scale: values.scale ?? false,
    json: values.json ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Output: the table goes to stdout, or to stderr when --json owns stdout.
// ---------------------------------------------------------------------------------------------

let out: (line?: string) => void = (line = '') => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`bench: ${line}\n`);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const ms = (value: number) => `${Math.round(value)} ms`;

function table(header: string[], rows: string[][]): void {
  const widths = header.map((cell, index) => Math.max(cell.length, ...rows.map((row) => row[index]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!))).join('  ');
  out(line(header));
  out(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) out(line(row));
}

// ---------------------------------------------------------------------------------------------
// Database: seeded once, recreated only when its row counts differ.
// ---------------------------------------------------------------------------------------------

interface Sizes {
  users: number;
  scripts: number;
  executions: number;
}

/** Row counts of the bench database, or null when it or its tables (or the seed's first row) are missing. */
async function existingSizes(url: string): Promise<Sizes | null> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (error) {
    if ((error as { code?: string }).code === '3D000') return null; // no such database
    throw error;
  }
  try {
    const { rows } = await client.query<{ users: string; scripts: string; executions: string; seeded: boolean }>(
      `SELECT (SELECT count(*) FROM "user") AS users, (SELECT count(*) FROM script) AS scripts,
              (SELECT count(*) FROM execution) AS executions,
              (SELECT count(*) = 0 FROM execution) OR EXISTS (
                SELECT 1 FROM execution WHERE id = md5('execution:' || $1::text || ':1')::uuid) AS seeded`,
      [String(DEFAULT_SEED)],
    );
    const row = rows[0]!;
    if (!row.seeded) return null;
    return { users: Number(row.users), scripts: Number(row.scripts), executions: Number(row.executions) };
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return null; // no such table
    throw error;
  } finally {
    await client.end();
  }
}

async function ensureDatabase(url: string, sizes: Sizes): Promise<void> {
  const found = await existingSizes(url);
  if (found && found.users === sizes.users && found.scripts === sizes.scripts && found.executions === sizes.executions) {
    return;
  }
  const name = databaseName(url);
  note(
    `${found ? `recreating ${name} (it holds ${JSON.stringify(found)})` : `creating ${name}`}: ` +
      `${sizes.users} users, ${sizes.scripts} scripts, ${sizes.executions} executions, seed ${DEFAULT_SEED}, now ${NOW}`,
  );
  const databaseUrl = await createDatabase(withDatabase(url, 'postgres'), name);
  const seeded = await seedDatabase({ databaseUrl, ...sizes, now: new Date(NOW), seed: DEFAULT_SEED });
  note(`seeded ${name} in ${(seeded.ms / 1000).toFixed(1)} s`);
}

interface ServerCounters {
  /** xact_commit + xact_rollback: one per statement run outside a transaction block, and one per server process start. */
  transactions: number;
  /** Sessions established (client connections; parallel workers are not sessions). */
  sessions: number;
}

/** What pg_stat_database holds for `name` now, read over a connection to another database. */
async function serverCounters(adminUrl: string, name: string): Promise<ServerCounters> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ transactions: string; sessions: string }>(
      'SELECT xact_commit + xact_rollback AS transactions, sessions FROM pg_stat_database WHERE datname = $1',
      [name],
    );
    return { transactions: Number(rows[0]?.transactions ?? 0), sessions: Number(rows[0]?.sessions ?? 0) };
  } finally {
    await client.end();
  }
}

/** The counters once the server processes of a finished run have exited and flushed their statistics. */
async function settledCounters(adminUrl: string, name: string): Promise<ServerCounters> {
  let previous = await serverCounters(adminUrl, name);
  for (let attempt = 0; attempt < 20; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const current = await serverCounters(adminUrl, name);
    if (current.transactions === previous.transactions && current.sessions === previous.sessions && attempt >= 2) {
      return current;
    }
    previous = current;
  }
  return previous;
}

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * Counts the statements of one run on the server side: every statement outside a transaction
 * block is one transaction in pg_stat_database, and so is every server process start (a session,
 * or a parallel worker). Parallel workers are switched off for this one run (ALTER DATABASE ...
 * SET max_parallel_workers = 0, reset afterwards; plans are unchanged, the leader does the work),
 * so statements = transactions - sessions.
 */
async function serverStatementCount(options: Options, cli: string, url: string, family: Variant): Promise<{ logged: number; server: number }> {
  const name = databaseName(url);
  const adminUrl = withDatabase(url, 'postgres');
  await adminQuery(adminUrl, `ALTER DATABASE "${name}" SET max_parallel_workers = 0`);
  try {
    const before = await settledCounters(adminUrl, name);
    const run = await runCli(options, cli, url, family);
    if (run.error) note(`${family} statement count run failed: ${run.error}`);
    const after = await settledCounters(adminUrl, name);
    return { logged: run.statements, server: after.transactions - before.transactions - (after.sessions - before.sessions) };
  } finally {
    await adminQuery(adminUrl, `ALTER DATABASE "${name}" RESET max_parallel_workers`);
  }
}

/** How often the CPU of a run is sampled from /proc. */
const SAMPLE_MS = 20;

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

interface Run {
  family: Variant;
  exitCode: number | null;
  /** Spawn to exit, as a scheduler sees it (includes Node.js start-up and module loading). */
  wallMs: number;
  /** The CLI's own `duration_ms`: planning, queries, payloads and the Redis write. */
  durationMs: number;
  rssMb: number;
  /** Bytes the CLI received from PostgreSQL (its sockets' bytesRead), from its `refresh finished` log. */
  dbBytes: number;
  /** CPU time of the PostgreSQL processes serving the run, and of the CLI process (sampled). */
  serverCpuMs: number;
  cliCpuMs: number;
  /** All the CLI's threads: the main one, V8's compiler and garbage-collector helpers, libuv's pool. */
  cliThreadsCpuMs: number;
  /** `query done` / `query failed` lines, plus the reachability `SELECT 1`. */
  statements: number;
  queries: Map<string, number>;
  configs: Map<string, number>;
  error: string | null;
}

/** all+compare: what a `refresh all` writes, planted as the API's own keys before each run. */
let apiKeys: Map<string, string> | null = null;

/** The keys of one (unmeasured) `refresh all`, once; then, before each run, the same values with 300 s to live and no record of ours. */
async function plantApiKeys(options: Options, cli: string, url: string): Promise<void> {
  const redis = new Redis(options.redisUrl);
  try {
    if (!apiKeys) {
      spawnSync(options.node, [cli, 'refresh', 'all', '--now', NOW, '--log-level', 'silent', '--database-url', url, '--redis-url', options.redisUrl]);
      const keys = await redis.keys('stats_service:*');
      const values = await redis.mget(keys);
      apiKeys = new Map(keys.map((key, index) => [key, values[index]!]));
      await redis.flushdb();
    }
    const pipeline = redis.pipeline();
    for (const [key, value] of apiKeys) pipeline.set(key, value, 'EX', 300);
    await pipeline.exec();
  } finally {
    redis.disconnect();
  }
}

async function runCli(options: Options, cli: string, url: string, family: Variant): Promise<Run> {
  // A run that died holding a family lock would have the next runs skip the family.
  await flushRedis(options.redisUrl);
  if (family === 'all+compare') await plantApiKeys(options, cli, url);
  const args = [cli, ...refreshArgs(family), '--now', NOW, '--log-level', 'debug', '--database-url', url, '--redis-url', options.redisUrl];
  if (options.concurrency !== null) args.push('--concurrency', String(options.concurrency));
  const started = performance.now();
  const child = spawn(options.node, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const sampler = startCpuSampler(child.pid!, databaseName(url), { intervalMs: SAMPLE_MS });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => {
      const wallMs = performance.now() - started;
      const cpu = sampler.stop();
      const run: Run = {
        family, exitCode, wallMs, durationMs: NaN, rssMb: NaN, dbBytes: NaN, ...cpu, statements: 1,
        queries: new Map(), configs: new Map(), error: null,
      };
      const messages: string[] = [];
      for (const line of stderr.split('\n').filter(Boolean)) {
        let log: Record<string, unknown>;
        try {
          log = JSON.parse(line) as Record<string, unknown>;
        } catch {
          messages.push(line);
          continue;
        }
        if (log.msg === 'query done' || log.msg === 'query failed') {
          run.statements++;
          run.queries.set(String(log.query), Number(log.ms));
        } else if (log.msg === 'config built') {
          run.configs.set(String(log.config), Number(log.ms));
        } else if (log.msg === 'refresh finished') {
          run.rssMb = Number(log.max_rss_mb);
          run.durationMs = Number(log.duration_ms);
          run.dbBytes = Number(log.db_bytes);
        } else if (log.level === 'error' || log.level === 'fatal') {
          messages.push(String(log.err ?? log.msg));
        }
      }
      if (exitCode !== 0) run.error = `exit ${exitCode}: ${messages[0] ?? stdout.trim().slice(0, 300)}`;
      else if (Number.isNaN(run.durationMs)) run.error = `no run: ${stdout.trim().slice(0, 300)}`;
      resolve(run);
    });
  });
}

interface FamilyResult {
  family: Variant;
  runs: Run[];
}

/** `runs` runs of each CLI, alternating (and alternating which goes first), so they share the machine's moods. */
async function measure(options: Options, url: string, family: Variant, runs: number): Promise<FamilyResult[]> {
  const results: FamilyResult[] = options.clis.map(() => ({ family, runs: [] }));
  for (let index = 0; index < runs; index++) {
    const order = options.clis.map((_, at) => at);
    if (index % 2 === 1) order.reverse();
    for (const at of order) {
      const run = await runCli(options, options.clis[at]!, url, family);
      if (run.error) note(`${family} run ${index + 1} of ${options.clis[at]} failed: ${run.error}`);
      results[at]!.runs.push(run);
    }
  }
  return results;
}

function spread(values: readonly number[]) {
  return { median: values.length ? median(values) : NaN, min: Math.min(...values), max: Math.max(...values), all: values };
}

function summarize(result: FamilyResult) {
  const ok = result.runs.filter((run) => run.exitCode === 0);
  const walls = ok.map((run) => run.wallMs);
  const durations = ok.map((run) => run.durationMs);
  const names = (pick: (run: Run) => Map<string, number>) =>
    [...new Set(ok.flatMap((run) => [...pick(run).keys()]))].map((name) => ({
      name,
      medianMs: median(ok.map((run) => pick(run).get(name)).filter((value): value is number => value !== undefined)),
    }));
  return {
    family: result.family,
    runs: result.runs.length,
    failed: result.runs.length - ok.length,
    wall_ms: { median: ok.length ? median(walls) : NaN, min: Math.min(...walls), max: Math.max(...walls), all: walls },
    duration_ms: { median: ok.length ? median(durations) : NaN, min: Math.min(...durations), max: Math.max(...durations), all: durations },
    statements_per_run: [...new Set(ok.map((run) => run.statements))],
    peak_rss_mb: { median: ok.length ? median(ok.map((run) => run.rssMb)) : NaN, max: Math.max(...ok.map((run) => run.rssMb)) },
    server_cpu_ms: spread(ok.map((run) => run.serverCpuMs)),
    cli_cpu_ms: spread(ok.map((run) => run.cliCpuMs)),
    cli_threads_cpu_ms: spread(ok.map((run) => run.cliThreadsCpuMs)),
    db_bytes: ok.length ? median(ok.map((run) => run.dbBytes)) : NaN,
    queries: names((run) => run.queries).sort((a, b) => b.medianMs - a.medianMs),
    configs: names((run) => run.configs).sort((a, b) => a.medianMs - b.medianMs),
  };
}

type Summary = ReturnType<typeof summarize>;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function printFamilies(summaries: Summary[], executions: number): void {
  table(
    ['family', 'runs', 'PostgreSQL CPU median', 'min', 'max', 'bytes from PostgreSQL', 'per execution', 'wall median', 'min', 'max',
      'run median', 'statements/run', 'peak RSS MiB (median/max)', 'CLI CPU main', 'all threads'],
    summaries.map((s) => [
      s.family,
      s.failed ? `${s.runs} (${s.failed} failed)` : String(s.runs),
      ms(s.server_cpu_ms.median), ms(s.server_cpu_ms.min), ms(s.server_cpu_ms.max),
      mib(s.db_bytes), `${(s.db_bytes / Math.max(1, executions)).toFixed(1)} B`,
      ms(s.wall_ms.median), ms(s.wall_ms.min), ms(s.wall_ms.max),
      ms(s.duration_ms.median),
      s.statements_per_run.join(' / '),
      `${s.peak_rss_mb.median} / ${s.peak_rss_mb.max}`,
      ms(s.cli_cpu_ms.median),
      ms(s.cli_threads_cpu_ms.median),
    ]),
  );
  out();
  out('PostgreSQL CPU = CPU time per run of the PostgreSQL processes serving it (connection start-up included),');
  out(`      sampled every ${SAMPLE_MS} ms from /proc (little affected by other load; 0 when /proc is not readable).`);
  out('bytes from PostgreSQL = what the CLI\'s sockets read (COPY framing and every other reply included).');
  out('wall = spawn to exit of `node dist/cli.js` (Node.js start-up and module loading included);');
  out('run  = the CLI\'s own duration_ms (plan, passes, payloads, Redis write; start-up excluded).');
  out('statements/run = `query done`/`query failed` debug lines + the one reachability `SELECT 1`.');
  out('CLI CPU main = the CLI\'s main thread (its JavaScript); all threads = with V8\'s compiler and GC helper threads.');
}

/** Runs per hour of the default schedules (the CronJobs' and `schedule`'s): every 4, 5 and 6 minutes. */
const RUNS_PER_HOUR: Readonly<Record<Exclude<Family, 'all'>, number>> = { dashboard: 15, executions: 12, users: 10 };

/** Database CPU per hour: each family on its own schedule, against one `refresh all` every 4 minutes. */
function printHourly(summaries: Summary[]): void {
  const cpu = (family: Family) => summaries.find((s) => s.family === family)?.server_cpu_ms.median ?? NaN;
  const rows = (Object.keys(RUNS_PER_HOUR) as Array<keyof typeof RUNS_PER_HOUR>).map((family) => [
    family, String(RUNS_PER_HOUR[family]), ms(cpu(family)), `${((cpu(family) * RUNS_PER_HOUR[family]) / 1000).toFixed(1)} s`,
  ]);
  const families = rows.reduce((sum, [family]) => sum + cpu(family as Family) * RUNS_PER_HOUR[family as keyof typeof RUNS_PER_HOUR], 0);
  rows.push(['three schedules', '37', '', `${(families / 1000).toFixed(1)} s`]);
  rows.push(['refresh all every 4 min', '15', ms(cpu('all')), `${((cpu('all') * 15) / 1000).toFixed(1)} s`]);
  out('PostgreSQL CPU per hour of the default schedules (median CPU per run × runs per hour):');
  table(['runs', 'per hour', 'CPU per run', 'CPU per hour'], rows);
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function ensureBuilt(cli: string): void {
  if (cli !== CLI) {
    if (!existsSync(cli)) throw new Error(`--cli ${cli} not found`);
    return;
  }
  if (existsSync(CLI)) return;
  note('dist/cli.js is missing: running npm run build');
  // stdout may carry --json: the build's output goes to stderr.
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  if (build.status !== 0) throw new Error('npm run build failed');
}

async function flushRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

function scaledUrl(base: string, sizes: Sizes): string {
  return withDatabase(base, `${databaseName(base)}_u${sizes.users}_s${sizes.scripts}_e${sizes.executions}`);
}

type CrossCheck = Record<string, { logged: number; server: number }>;

async function benchmark(options: Options, url: string, sizes: Sizes, withFamilies: boolean) {
  await ensureDatabase(url, sizes);
  const families: Variant[] = options.family === 'all' && withFamilies ? [...FAMILIES, 'all+requests', 'all+compare'] : [options.family];
  const summaries: Summary[][] = options.clis.map(() => []);
  const crossChecks: CrossCheck[] = options.clis.map(() => ({}));
  for (const family of families) {
    for (const [at, cli] of options.clis.entries()) {
      const warmUp = await runCli(options, cli, url, family); // caches, first connections
      if (warmUp.error) note(`${family} warm-up of ${cli} failed: ${warmUp.error}`);
      crossChecks[at]![family] = await serverStatementCount(options, cli, url, family).catch((error: unknown) => {
        note(`${family}: no server-side statement count (${(error as Error).message})`);
        return { logged: NaN, server: NaN };
      });
    }
    (await measure(options, url, family, options.runs)).forEach((result, at) => summaries[at]!.push(summarize(result)));
  }
  return { database: databaseName(url), sizes, summaries, crossChecks };
}

/** Spawn to exit of `--help`, the start-up a command pays before any work. */
async function measureHelp(options: Options, cli: string): Promise<ReturnType<typeof spread>> {
  const walls: number[] = [];
  for (let index = 0; index < options.helpRuns; index++) {
    const started = performance.now();
    const child = spawn(options.node, [cli, '--help'], { cwd: ROOT, stdio: 'ignore' });
    await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    walls.push(performance.now() - started);
  }
  return spread(walls);
}

const label = (cli: string) => (cli.startsWith(ROOT) ? path.relative(ROOT, cli) : cli);
const range = (s: { median: number; min: number; max: number }, unit = (value: number) => ms(value)) =>
  `${unit(s.median)} (${unit(s.min)}–${unit(s.max)})`;

/** Each family's medians (min–max) for every CLI, side by side. */
function printComparison(options: Options, summaries: Summary[][]): void {
  const rows = summaries[0]!.flatMap((first, index) => {
    const of = summaries.map((list) => list[index]!);
    const metric = (name: string, value: (s: Summary) => string) => [first.family, name, ...of.map(value)];
    return [
      metric('PostgreSQL CPU', (s) => range(s.server_cpu_ms)),
      metric('CLI CPU, main thread', (s) => range(s.cli_cpu_ms)),
      metric('CLI CPU, all threads', (s) => range(s.cli_threads_cpu_ms)),
      metric('wall', (s) => range(s.wall_ms)),
      metric('peak RSS MiB (median / max)', (s) => `${s.peak_rss_mb.median} / ${s.peak_rss_mb.max}`),
      metric('statements', (s) => s.statements_per_run.join(' / ')),
      metric('bytes from PostgreSQL', (s) => mib(s.db_bytes)),
    ];
  });
  out(`side by side, ${options.runs} alternating runs each (median, min–max):`);
  table(['family', 'metric', ...options.clis.map(label)], rows);
}

async function main(argv: string[]): Promise<number> {
  const options = parseCli(argv);
  if (options.json) out = (line = '') => process.stderr.write(`${line}\n`);
  options.clis.forEach(ensureBuilt);
  const nodeVersion = spawnSync(options.node, ['--version'], { encoding: 'utf8' }).stdout.trim();

  const machine = { cpus: cpus().length, loadavg: loadavg().map((value) => Number(value.toFixed(2))) };
  const sizes: Sizes = { users: options.users, scripts: options.scripts, executions: options.executions };
  const base = await benchmark(options, options.databaseUrl, sizes, true);
  const failed = base.summaries.flat().some((s) => s.failed > 0);
  const help: Array<ReturnType<typeof spread>> = [];
  for (const cli of options.clis) help.push(await measureHelp(options, cli));

  out(`stats-refresh benchmark: ${base.database} (${options.users} users, ${options.scripts} scripts, ` +
    `${options.executions} executions, seed ${DEFAULT_SEED}), --now ${NOW}`);
  out(`${options.runs} runs after 1 warm-up; concurrency ${options.concurrency ?? 'CLI default'}; Node.js ${nodeVersion}; ` +
    `${machine.cpus} CPUs, load average at start ${machine.loadavg.join(' ')}`);
  for (const [at, cli] of options.clis.entries()) {
    const summaries = base.summaries[at]!;
    out();
    out(`CLI ${label(cli)}`);
    out();
    printFamilies(summaries, options.executions);
    if (summaries.length > 1) {
      out();
      printHourly(summaries);
      const cpuOf = (variant: Variant) => summaries.find((s) => s.family === variant)?.server_cpu_ms.median ?? NaN;
      out();
      out(`16 golden requests on top of \`refresh all\` (one more statement's worth of filters, no more passes): ` +
        `PostgreSQL CPU ${ms(cpuOf('all+requests'))} against ${ms(cpuOf('all'))}, ` +
        `${signedPercent(cpuOf('all+requests'), cpuOf('all'))}`);
      out(`the drift check comparing all 41 keys as the API's (their windows folded on the same pass, no more statements): ` +
        `PostgreSQL CPU ${ms(cpuOf('all+compare'))} against ${ms(cpuOf('all'))} with nothing to compare`);
    }
    out('cross-check, one extra run per family: statements the server executed = pg_stat_database');
    out('(xact_commit + xact_rollback) - sessions, parallel workers off for that run:');
    out(`  ${Object.entries(base.crossChecks[at]!).map(([family, c]) => `${family}: ${c.server} (logged ${c.logged})`).join(', ')}`);
    if (options.helpRuns > 0) out(`\`--help\`, spawn to exit (${options.helpRuns} runs): ${range(help[at]!)}`);

    const first = summaries[0]!;
    out();
    out(`queries of \`refresh ${first.family}\` (median ms each; they overlap, up to the concurrency):`);
    table(['query', 'median'], first.queries.map((q) => [q.name, ms(q.medianMs)]));
    out();
    out(`configs of \`refresh ${first.family}\` (median ms since the run started when each was built):`);
    table(['config', 'built at'], first.configs.map((c) => [c.name, ms(c.medianMs)]));
  }
  if (options.clis.length > 1) {
    out();
    printComparison(options, base.summaries);
  }

  const scale: Array<{ executions: number; database: string; summaries: Summary[] }> = [];
  if (options.scale) {
    for (const executions of SCALE_EXECUTIONS) {
      const sizes = { users: options.users, scripts: options.scripts, executions };
      const url = executions === options.executions ? options.databaseUrl : scaledUrl(options.databaseUrl, sizes);
      const result = executions === options.executions ? base : await benchmark(options, url, sizes, false);
      scale.push({ executions, database: result.database, summaries: result.summaries.map((list) => list[0]!) });
    }
    for (const [at, cli] of options.clis.entries()) {
      const rows = scale.map(({ executions, database, summaries }) => ({ executions, database, summary: summaries[at]! }));
      out();
      out(`scale (\`refresh ${options.family}\` by ${label(cli)}; users ${options.users} and scripts ${options.scripts} fixed, executions vary):`);
      table(
        ['executions', 'database', 'PostgreSQL CPU median', 'per 1M executions', 'wall median', 'run median', 'run per 1M',
          'CLI CPU main', 'all threads', 'bytes from PostgreSQL', 'statements', 'peak RSS MiB'],
        rows.map(({ executions, database, summary }) => [
          String(executions), database, ms(summary.server_cpu_ms.median), ms(summary.server_cpu_ms.median / (executions / 1e6)),
          ms(summary.wall_ms.median), ms(summary.duration_ms.median), ms(summary.duration_ms.median / (executions / 1e6)),
          ms(summary.cli_cpu_ms.median), ms(summary.cli_threads_cpu_ms.median), mib(summary.db_bytes), summary.statements_per_run.join(' / '), String(summary.peak_rss_mb.max),
        ]),
      );
      const [smallest, , largest] = rows;
      if (smallest && largest) {
        const growth = (pick: (summary: Summary) => number) => {
          const slope = (pick(largest.summary) - pick(smallest.summary)) / ((largest.executions - smallest.executions) / 1e6);
          return `${ms(slope)} per additional 1M executions (fixed part about ${ms(pick(smallest.summary) - slope * (smallest.executions / 1e6))})`;
        };
        out(`growth between ${smallest.executions} and ${largest.executions} executions:`);
        out(`  PostgreSQL CPU ${growth((summary) => summary.server_cpu_ms.median)}`);
        out(`  wall           ${growth((summary) => summary.wall_ms.median)}`);
        out(`  CLI CPU (main) ${growth((summary) => summary.cli_cpu_ms.median)}`);
      }
    }
  }

  await flushRedis(options.redisUrl);
  out();
  out(`flushed ${options.redisUrl.replace(/\/\/[^@/]*@/, '//***@')} (the bench's Redis database)`);

  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({
        now: NOW, seed: DEFAULT_SEED, machine, node: nodeVersion, concurrency: options.concurrency, runs: options.runs,
        database: base.database, sizes: base.sizes,
        clis: options.clis.map((cli, at) => ({
          cli,
          families: base.summaries[at],
          statement_cross_check: base.crossChecks[at],
          help_ms: help[at],
          scale: options.scale ? scale.map(({ executions, database, summaries }) => ({ executions, database, ...summaries[at]! })) : null,
        })),
      })}\n`,
    );
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\nusage: npm run bench -- [--database-url URL] [--users N] [--scripts N] ` +
        `[--executions N] [--runs N] [--family all|dashboard|executions|users] [--concurrency N] [--scale] [--json] [--cli PATH] ` +
        `[--compare PATH] [--node PATH] [--help-runs N]\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);

/** `value` against `base` as "+4.0 %" or "-4.0 %". */
function signedPercent(value: number, base: number): string {
  const percent = ((value - base) / base) * 100;
  return `${percent >= 0 ? '+' : ''}${percent.toFixed(1)} %`;
}
