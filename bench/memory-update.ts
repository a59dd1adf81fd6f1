/**
 * CPU of an update with rows in memory (schedule's change mode, src/state/), in process.
 *
 *   npm run bench:memory -- --database-url URL [--updates N] [--mode kept|replay]
 *
 * Keeps a MemoryState over the database and computes every family's payloads from it the way
 * schedule's change loop does (probe, the state hears the fingerprint, a dry run with the state
 * as the load's memory source): first the load, then `--updates` times (default 30, after 3
 * unmeasured) one execution inserted and a run, then time-only steps (the clock moved on by
 * 1 s, 1 min and 1 h, each a few times, nothing written). Prints the process CPU per update
 * (median, min, max), the share of it spent in the execution pass, and how the passes were
 * made, per update how many sections were rebuilt and how many reused (their texts kept from
 * the run before, src/state/section-texts.ts), and the SQL statements each time-only step sent
 * (the run's own count: the probe it hears is taken apart, as the change loop takes it); then
 * where the memory is (RSS, V8's heap, the state's typed arrays by structure), and a
 * reconciliation (the clock a day on: the tables loaded afresh beside the rows held), its CPU
 * and the memory after it. `--mode replay` replays every row for each pass (the state as it
 * was before kept passes); `kept` (default) keeps the passes between runs and moves them on.
 *
 * It WRITES executions: run it on a copy (`createdb -T <seeded db> <copy>`), never on a
 * template. It asserts nothing.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createDb } from '../src/io/db.js';
import { createLogger } from '../src/io/logger.js';
import { noReporter } from '../src/io/reporter.js';
import { parsePostgresTls } from '../src/io/tls.js';
import { probeAt } from '../src/pass/change-probe.js';
import { requestsFor } from '../src/requests/batches.js';
import { runRefresh } from '../src/run/refresh-run.js';
import { MemoryState } from '../src/state/memory-state.js';
import { peakRssMib } from './cpu-sampler.js';
import { typedBytesByPath } from './typed-bytes.js';

const WARM_UP = 3;
const RECONCILE_INTERVAL_MS = 24 * 3_600_000;

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

/**
 * Where the process's memory is, after a full collection when node runs with --expose-gc: RSS
 * now and at its peak (VmHWM), the V8 heap in use, and the typed arrays' buffers.
 */
function memoryLine(when: string): string {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  const peak = peakRssMib(process.pid);
  return `memory ${when}: RSS ${mib(usage.rss)} (peak ${peak === null ? '?' : `${Math.round(peak)} MiB`}), heap used ${mib(usage.heapUsed)} of ${mib(usage.heapTotal)}, external ${mib(usage.external)}, array buffers ${mib(usage.arrayBuffers)}`;
}
/** The state's typed arrays by structure, largest first (MiB; the rest of its memory is V8's heap). */
function stateLines(state: MemoryState): string {
  const sizes = [...typedBytesByPath(state, 'state', 4)].filter(([, bytes]) => bytes >= 2 ** 19).sort((a, b) => b[1] - a[1]);
  return sizes.map(([path, bytes]) => `  ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  ${path}`).join('\n');
}
const FAMILIES = ['dashboard', 'executions', 'users'] as const;
const TIME_STEPS_MS = [1_000, 60_000, 3_600_000];
const TIME_STEP_REPEATS = 3;

function parseCli(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { 'database-url': { type: 'string' }, updates: { type: 'string' }, mode: { type: 'string' } },
  });
  const updates = Number(values.updates ?? 30);
  if (!Number.isSafeInteger(updates) || updates < 1) throw new Error(`--updates must be a positive integer, got ${values.updates}`);
  const mode = values.mode ?? 'kept';
  if (mode !== 'kept' && mode !== 'replay') throw new Error(`--mode must be kept or replay, got ${mode}`);
  const databaseUrl = values['database-url'] ?? process.env.BENCH_DATABASE_URL;
  if (!databaseUrl) throw new Error('set --database-url (or BENCH_DATABASE_URL) to a copy of a seeded database: the bench writes to it');
  return { databaseUrl, updates, mode };
}

/** CPU time (ms) the process used so far, user and system. */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const naive = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

/** One update: its CPU, the execution pass's share, its statements, and the sections it built and reused (their texts kept from the run before). */
interface Sample {
  cpu: number;
  pass: number;
  /** SQL statements the run sent (the probe it hears is taken apart). */
  statements: number;
  built: number;
  reused: number;
}

function summary(name: string, samples: readonly Sample[]): string {
  const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
  const cpu = sorted(samples.map((sample) => sample.cpu));
  const pass = sorted(samples.map((sample) => sample.pass));
  const median = (values: number[]) => values[Math.floor(values.length / 2)]!;
  const f = (ms: number) => ms.toFixed(1);
  const built = sorted(samples.map((sample) => sample.built));
  const reused = sorted(samples.map((sample) => sample.reused));
  const sections = `\n${''.padEnd(22)} sections per update: rebuilt median ${median(built)} (min ${built[0]}, max ${built.at(-1)}), reused median ${median(reused)} (min ${reused[0]}, max ${reused.at(-1)})`;
  return `${name.padEnd(22)} n=${String(samples.length).padStart(3)}  CPU per update ms: median ${f(median(cpu))}, min ${f(cpu[0]!)}, max ${f(cpu.at(-1)!)}  (of it the execution pass: median ${f(median(pass))}, max ${f(pass.at(-1)!)})${sections}`;
}

async function main(): Promise<void> {
  const { databaseUrl, updates, mode } = parseCli(process.argv.slice(2));
  const { db, pool } = createDb({ url: databaseUrl, tls: parsePostgresTls(databaseUrl, 'DATABASE_URL'), applicationName: 'stats-refresh-bench', poolSize: 4 });
  let now = Date.now();
  const state = new MemoryState({
    db,
    pool,
    clock: () => now,
    reconcileIntervalMs: RECONCILE_INTERVAL_MS,
    keepPasses: mode === 'kept',
    probe: () => probeAt(pool, new Date(now)).then((reading) => reading.fingerprint),
  });
  // The execution pass's own CPU, apart from the sync and the sections.
  let passMs = 0;
  const executionPass = state.executionPass.bind(state);
  state.executionPass = (plan, scripts) => {
    const before = cpuMs();
    try {
      return executionPass(plan, scripts);
    } finally {
      passMs += cpuMs() - before;
    }
  };
  const requests = requestsFor([...FAMILIES]).map((request) => ({ request, origin: 'batch' as const }));
  const update = async (): Promise<Sample> => {
    state.observe((await probeAt(pool, new Date(now))).fingerprint);
    passMs = 0;
    const { built, reused } = state.sections.counts;
    const before = cpuMs();
    const run = await runRefresh(
      { command: 'bench', requests, families: [...FAMILIES], now: new Date(now), ttlSeconds: 300, concurrency: 2, dryRun: true, retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } },
      { db, pool, cache: null, logger: createLogger('silent'), reporter: noReporter, secrets: [], memory: state },
    );
    const cpu = cpuMs() - before;
    const failed = run.results.filter((result) => result.error !== null);
    if (failed.length > 0) throw new Error(`a run failed: ${failed.map((result) => `${result.label}: ${result.error!.message}`).join('; ')}`);
    return { cpu, pass: passMs, statements: run.statements, built: state.sections.counts.built - built, reused: state.sections.counts.reused - reused };
  };
  const [{ id: script }] = (await pool.query<{ id: string }>('SELECT id::text AS id FROM script ORDER BY id LIMIT 1')).rows as [{ id: string }];
  const [{ id: user }] = (await pool.query<{ id: string }>('SELECT id::text AS id FROM "user" ORDER BY id LIMIT 1')).rows as [{ id: string }];
  const insertExecution = () =>
    pool.query(
      `INSERT INTO execution (id, start_date, end_date, status, progress, params, results, script_id, user_id) VALUES ($1, $2, NULL, 'PENDING', 0, '{}', '{}', $3, $4)`,
      [randomUUID(), naive(now), script, user],
    );
  try {
    const load = await update();
    console.log(`mode ${mode}: the load (${state.rows.executions} executions, ${state.rows.users} users): ${load.cpu.toFixed(0)} ms CPU`);
    console.log(memoryLine('after the load'));
    const inserts: Sample[] = [];
    for (let index = 0; index < WARM_UP + updates; index++) {
      now += 1_000;
      await insertExecution();
      const sample = await update();
      if (index >= WARM_UP) inserts.push(sample);
    }
    console.log(summary('one execution inserted', inserts));
    const timeOnlyStatements: number[] = [];
    for (const stepMs of TIME_STEPS_MS) {
      const samples: Sample[] = [];
      for (let repeat = 0; repeat < TIME_STEP_REPEATS; repeat++) {
        now += stepMs;
        samples.push(await update());
      }
      console.log(summary(`time only, +${stepMs / 1000} s`, samples));
      timeOnlyStatements.push(...samples.map((sample) => sample.statements));
    }
    console.log(`statements per time-only step (besides the probe): ${timeOnlyStatements.join(', ')}`);
    console.log(`passes: ${JSON.stringify(state.passes)}; last sync: ${state.lastSync}`);
    console.log(memoryLine('before a reconciliation'));
    console.log(stateLines(state));
    // A day on: the reconcile interval passed, so this run loads the tables afresh beside the rows held.
    now += RECONCILE_INTERVAL_MS;
    const reconcile = await update();
    console.log(`a reconciliation (last sync: ${state.lastSync}): ${reconcile.cpu.toFixed(0)} ms CPU`);
    console.log(memoryLine('after it'));
  } finally {
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
