/**
 * Cost of the change probe (src/pass/change-probe.ts) on a seeded database.
 *
 *   npm run bench:probe -- [--database-url URL] [--probes N] [--interval MS] [--dirty] [--unprepared]
 *
 * Runs the probe `--probes` times (default 1000, after 20 unmeasured; `--interval MS` apart,
 * default back to back: a probe a second finds the backend's caches colder) on one connection
 * opened as the CLI opens its own, schedule's statement (the fingerprint) then the one-shot
 * refresh's (with the validity horizon), and prints, per probe, the CPU time of the PostgreSQL
 * backend serving it (read from /proc before and after each probe) and the round trip as
 * the client sees it: median, min, p90 and max, and the total over all probes; then one
 * EXPLAIN (ANALYZE, BUFFERS) of the statement. `--dirty` first rewrites the `progress` of every
 * RUNNING run (what the API does all day), so that their heap pages are no longer all-visible
 * and the index-only scans must visit the heap, as between two vacuums in production; it
 * changes no value a payload shows (VACUUM the table to undo its effect on the measure). `--unprepared` measures the unnamed statement too (planned on every
 * run). The database must exist and be seeded (`npm run seed -- --create …`); it reports and
 * asserts nothing. See docs/performance.md.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDb } from '../src/io/db.js';
import { parsePostgresTls } from '../src/io/tls.js';
import { CHANGE_PROBE_SQL, probeAt, probeChanges } from '../src/pass/change-probe.js';
import { processCpuMs } from './process-cpu.js';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/stats_refresh_bench';
const WARM_UP = 20;

interface Series {
  readonly cpuMs: number[];
  readonly wallMs: number[];
}

function parseCli(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'database-url': { type: 'string' },
      probes: { type: 'string' },
      dirty: { type: 'boolean' },
      unprepared: { type: 'boolean' },
      interval: { type: 'string' },
    },
  });
  const probes = Number(values.probes ?? 1000);
  if (!Number.isSafeInteger(probes) || probes < 1) throw new Error(`--probes must be a positive integer, got ${values.probes}`);
  const intervalMs = Number(values.interval ?? 0);
  if (!Number.isFinite(intervalMs) || intervalMs < 0) throw new Error(`--interval must be a number of milliseconds, got ${values.interval}`);
  return {
    intervalMs,
    databaseUrl: values['database-url'] ?? process.env.BENCH_DATABASE_URL ?? DEFAULT_URL,
    probes,
    dirty: values.dirty === true,
    unprepared: values.unprepared === true,
  };
}

async function measure(pool: pg.Pool, pid: number, probes: number, intervalMs: number, probe: () => Promise<unknown>): Promise<Series> {
  const series: Series = { cpuMs: [], wallMs: [] };
  for (let index = 0; index < WARM_UP + probes; index += 1) {
    if (intervalMs > 0 && index >= WARM_UP) await sleep(intervalMs);
    const cpuBefore = processCpuMs(pid);
    const start = performance.now();
    await probe();
    const wall = performance.now() - start;
    const cpuAfter = processCpuMs(pid);
    if (cpuBefore === null || cpuAfter === null) throw new Error(`cannot read /proc/${pid}/schedstat (PostgreSQL must run on this machine)`);
    if (index < WARM_UP) continue;
    series.cpuMs.push(cpuAfter - cpuBefore);
    series.wallMs.push(wall);
  }
  // The one connection must still be the one measured.
  const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  if (rows[0]?.pid !== pid) throw new Error('the connection changed during the measurement');
  return series;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function describe(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const total = values.reduce((sum, value) => sum + value, 0);
  const ms = (value: number) => value.toFixed(3);
  return `median ${ms(quantile(sorted, 0.5))} ms, min ${ms(sorted[0]!)}, p90 ${ms(quantile(sorted, 0.9))}, max ${ms(sorted.at(-1)!)}; total ${total.toFixed(1)} ms`;
}

/** Rewrites the progress of every RUNNING run, as the API does while they run: no indexed column changes. */
async function dirtyRunningRuns(pool: pg.Pool): Promise<number> {
  const { rowCount } = await pool.query("UPDATE execution SET progress = progress WHERE status = 'RUNNING'");
  return rowCount ?? 0;
}

async function main(argv: string[]): Promise<void> {
  const options = parseCli(argv);
  const { pool } = createDb({ url: options.databaseUrl, tls: parsePostgresTls(options.databaseUrl, '--database-url'), applicationName: 'stats-refresh-bench', poolSize: 1 });
  try {
    const { rows } = await pool.query<{ pid: number; executions: number }>(
      'SELECT pg_backend_pid() AS pid, (SELECT reltuples::int8 FROM pg_class WHERE oid = to_regclass($1)) AS executions',
      ['execution'],
    );
    const { pid, executions } = rows[0]!;
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(`database ${new URL(options.databaseUrl).pathname.slice(1)}: about ${executions} executions; ${options.probes} probes (after ${WARM_UP} unmeasured), backend ${pid}`);
    if (options.dirty) out(`--dirty: progress rewritten on the ${await dirtyRunningRuns(pool)} RUNNING runs`);

    const prepared = await measure(pool, pid, options.probes, options.intervalMs, () => probeChanges(pool));
    out(`probe (schedule)     PostgreSQL CPU: ${describe(prepared.cpuMs)}`);
    out(`                     round trip:     ${describe(prepared.wallMs)}`);
    const withHorizon = await measure(pool, pid, options.probes, options.intervalMs, () => probeAt(pool, new Date()));
    out(`probe with horizon   PostgreSQL CPU: ${describe(withHorizon.cpuMs)}`);
    out(`  (one-shot refresh) round trip:     ${describe(withHorizon.wallMs)}`);
    if (options.unprepared) {
      const unnamed = await measure(pool, pid, options.probes, options.intervalMs, () => pool.query(CHANGE_PROBE_SQL, [new Date().toISOString()]));
      out(`probe (unprepared)   PostgreSQL CPU: ${describe(unnamed.cpuMs)}`);
      out(`                     round trip:     ${describe(unnamed.wallMs)}`);
    }
    const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${CHANGE_PROBE_SQL}`, [new Date().toISOString()]);
    const lines = plan.rows.map((row) => row['QUERY PLAN']);
    const buffers = lines.find((line) => /^\s*Buffers:/.test(line));
    out(`EXPLAIN (ANALYZE, BUFFERS), once: ${lines.filter((line) => /^(Planning|Execution) Time/.test(line)).join(', ')}${buffers ? `; top node ${buffers.trim()}` : ''}`);
    out(`heap fetches in index-only scans: ${lines.flatMap((line) => /Heap Fetches: (\d+)/.exec(line)?.[1] ?? []).reduce((sum, n) => sum + Number(n), 0)}`);
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench:probe: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
