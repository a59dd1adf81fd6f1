/**
 * Freshness of `stats-refresh schedule` while the data changes (issue 23's "Measure it, side by side").
 *
 *   npm run freshness -- [--executions N] [--users N] [--scripts N] [--contender cron|change ...]
 *                        [--scenarios a,b,...] [--seconds N] [--drain N] [--quick] [--json FILE]
 *
 * On a bench-sized database (seeded once by tools/seed-lib.ts as bench/run.ts does, then copied
 * per contender with CREATE DATABASE ... TEMPLATE), each contender's `schedule` runs with its own
 * redis-server, one contender after the other, while a writer commits changes scenario by
 * scenario. Redis is polled every ~100 ms (one MGET of the covered keys); a key shows a change
 * when the fields that count the writer's rows have moved by it (bench/freshness/watch.ts). It
 * prints, per scenario and change kind, the lag from commit to every affected key showing it,
 * the runs schedule made, the CPU per minute of the PostgreSQL backends serving it and its own,
 * and its peak RSS. It reports; it asserts nothing. See docs/performance.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parseCron } from '../src/lib/cron.js';
import { coveredKeys } from '../src/requests/covered.js';
import { RedisServer } from '../test/helpers/redis-server.js';
import { ADMIN_URL, databaseFromTemplate } from '../test/helpers/services.js';
import { createDatabase, DEFAULT_SEED, seedDatabase, withDatabase } from '../tools/seed-lib.js';
import { startCpuSampler, peakRssMib } from './cpu-sampler.js';
import { CONTENDERS, type Contender, type RunningContender, increases, samplesOf, startContender } from './freshness/contender.js';
import { type Commit, type CpuReading, type FieldHistory, commitLags, cpuMeanPerMinute, cpuPerMinute, percentile, record, spread, summarizeLags } from './freshness/lag.js';
import { formatReport, type ScenarioResult } from './freshness/report.js';
import { QUICK_SECONDS, SCENARIO_NAMES, SCENARIOS, type ScenarioName, plannedChanges } from './freshness/scenarios.js';
import { CHANGE_KINDS, type ChangeKind, cutoffLabel, quietPeriods, watchesOf, type Watch } from './freshness/watch.js';
import { Writer } from './freshness/writer.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
/** The seed's instant, as bench/run.ts's: the data is older than any window a real clock puts after it. */
const SEED_NOW = '2026-06-15T12:34:56Z';
const POLL_MS = 100;
const CPU_READ_MS = 1_000;
const USAGE =
  'usage: npm run freshness -- [--executions N] [--users N] [--scripts N] [--contender cron|change ...] ' +
  '[--scenarios a,b,...] [--seconds N] [--drain N] [--quick] [--json FILE]';

class UsageError extends Error {}
const note = (line: string) => process.stderr.write(`freshness: ${line}\n`);
/** Aborted by the first SIGINT or SIGTERM: the contender in progress stops and everything started is cleaned up. */
const interrupted = new AbortController();
/** Resolves after `ms`, or at once when interrupted. */
const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    if (interrupted.signal.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      interrupted.signal.removeEventListener('abort', done);
      resolve();
    }
    interrupted.signal.addEventListener('abort', done, { once: true });
  });
function throwIfInterrupted(): void {
  if (interrupted.signal.aborted) throw new Error('interrupted: the contender in progress was stopped and cleaned up');
}

interface Options {
  users: number;
  scripts: number;
  executions: number;
  contenders: Contender[];
  plan: Array<{ name: ScenarioName; durationMs: number }>;
  drainMs: number;
  json: string | null;
}

function whole(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function parseCli(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        users: { type: 'string' },
        scripts: { type: 'string' },
        executions: { type: 'string' },
        contender: { type: 'string', multiple: true },
        scenarios: { type: 'string' },
        seconds: { type: 'string' },
        drain: { type: 'string' },
        quick: { type: 'boolean' },
        json: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const names = values.contender ?? CONTENDERS.map((contender) => contender.name);
  const contenders = names.map((name) => {
    const contender = CONTENDERS.find((candidate) => candidate.name === name);
    if (!contender) throw new UsageError(`--contender must be one of ${CONTENDERS.map((c) => c.name).join(', ')}, got ${JSON.stringify(name)}`);
    return contender;
  });
  const scenarios = (values.scenarios ?? SCENARIO_NAMES.join(',')).split(',').map((name) => {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) throw new UsageError(`--scenarios takes ${SCENARIO_NAMES.join(', ')}; got ${JSON.stringify(name)}`);
    return name as ScenarioName;
  });
  const quick = values.quick ?? false;
  const seconds = values.seconds === undefined ? null : whole('seconds', values.seconds, 0, 5);
  return {
    users: whole('users', values.users, 100_000, 1),
    scripts: whole('scripts', values.scripts, 500, 1),
    executions: whole('executions', values.executions, 1_000_000),
    contenders,
    plan: scenarios.map((name) => ({ name, durationMs: 1000 * (seconds ?? (quick ? QUICK_SECONDS : SCENARIOS[name].seconds)) })),
    drainMs: 1000 * whole('drain', values.drain, quick ? 3 : 15),
    json: values.json ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// The seeded template: one per size, kept between runs (drop it with dropdb when done).
// ---------------------------------------------------------------------------------------------

interface Template {
  readonly name: string;
  /** The newest timestamp of the seed's rows: the harness's own rows must come after it. */
  readonly newest: Date;
}

async function ensureTemplate(options: Options): Promise<Template> {
  const name = `stats_refresh_freshness_u${options.users}_s${options.scripts}_e${options.executions}`;
  const url = withDatabase(ADMIN_URL, name);
  const sizes = { users: options.users, scripts: options.scripts, executions: options.executions };
  const read = async () => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
    } catch (error) {
      if ((error as { code?: string }).code === '3D000') return null; // no such database
      throw error;
    }
    try {
      const { rows } = await client.query<{ users: string; scripts: string; executions: string; newest: Date | null }>(
        `SELECT (SELECT count(*) FROM "user") AS users, (SELECT count(*) FROM script) AS scripts,
                (SELECT count(*) FROM execution) AS executions,
                greatest((SELECT max(start_date) FROM execution), (SELECT max(end_date) FROM execution),
                         (SELECT max(created_at) FROM "user")) AT TIME ZONE 'UTC' AS newest`,
      );
      return rows[0]!;
    } catch (error) {
      if ((error as { code?: string }).code === '42P01') return null; // no such table
      throw error;
    } finally {
      await client.end();
    }
  };
  let found = await read();
  if (!found || Number(found.users) !== sizes.users || Number(found.scripts) !== sizes.scripts || Number(found.executions) !== sizes.executions) {
    note(`seeding ${name}: ${sizes.users} users, ${sizes.scripts} scripts, ${sizes.executions} executions, seed ${DEFAULT_SEED}, now ${SEED_NOW}`);
    const databaseUrl = await createDatabase(ADMIN_URL, name);
    const seeded = await seedDatabase({ databaseUrl, ...sizes, now: new Date(SEED_NOW), seed: DEFAULT_SEED });
    note(`seeded ${name} in ${(seeded.ms / 1000).toFixed(1)} s`);
    found = await read();
  }
  return { name, newest: found?.newest ?? new Date(0) };
}

// ---------------------------------------------------------------------------------------------
// One contender's session
// ---------------------------------------------------------------------------------------------

/** Polls the covered keys with one MGET every POLL_MS and feeds every watched field's history. */
function startPoller(redis: Redis, keys: readonly string[], watches: readonly Watch[], histories: readonly FieldHistory[]) {
  const byKey = new Map<string, Array<{ watch: Watch; history: FieldHistory }>>();
  watches.forEach((watch, index) => {
    const list = byKey.get(watch.key) ?? [];
    list.push({ watch, history: histories[index]! });
    byKey.set(watch.key, list);
  });
  const lastText = new Map<string, string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped && !interrupted.signal.aborted) {
      const sent = Date.now();
      const values = await redis.mget(...keys).catch(() => null);
      const at = Date.now();
      values?.forEach((text, index) => {
        const key = keys[index]!;
        if (text === null || lastText.get(key) === text) return;
        lastText.set(key, text);
        const payload = JSON.parse(text) as unknown;
        for (const { watch, history } of byKey.get(key) ?? []) record(history, at, watch.read(payload));
      });
      await sleep(POLL_MS - (Date.now() - sent));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Families whose keys a change of each kind moves (for the cron estimate). */
function familiesByKind(watches: readonly Watch[]): Map<ChangeKind, Set<string>> {
  const covered = coveredKeys();
  const families = new Map<ChangeKind, Set<string>>();
  for (const watch of watches) {
    const set = families.get(watch.kind) ?? new Set<string>();
    set.add(covered.get(watch.key) ?? 'dashboard');
    families.set(watch.kind, set);
  }
  return families;
}

/** Every-key lag a cron schedule gives a commit: the latest next firing of the families it moves, plus a run. */
function cronEstimate(commits: readonly Commit[], schedules: Readonly<Record<string, string>>, families: Map<ChangeKind, Set<string>>, runMs: number) {
  const lags = commits.map((commit) => {
    const waits = [...(families.get(commit.kind) ?? [])].map((family) => {
      const expression = schedules[family];
      const next = expression ? parseCron(expression).nextRun(new Date(commit.at)) : null;
      return next ? next.getTime() - commit.at : Number.NaN;
    });
    return Math.max(...waits) + runMs;
  });
  return lags.length ? { p50: percentile(lags, 50), max: Math.max(...lags) } : null;
}

interface RunLog {
  readonly at: number;
  readonly reason: string;
  readonly durationMs: number;
}

function runLogs(running: RunningContender): RunLog[] {
  return running.cli.logs
    .filter((log) => log.msg === 'schedule run finished')
    .map((log) => ({ at: Date.parse(String(log.time)), reason: String(log.reason), durationMs: Number(log.duration_ms) }));
}

async function measureContender(contender: Contender, options: Options, template: Template): Promise<ScenarioResult[] | { skipped: string }> {
  const database = await databaseFromTemplate(template.name, `freshness_${contender.name}`);
  const redisServer = await RedisServer.start();
  const poll = new Redis(redisServer.url(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  poll.on('error', () => undefined);
  let writer: Writer | null = null;
  let running: RunningContender | null = null;
  /** Timers and loops to stop whatever happens. */
  const stops: Array<() => unknown> = [];
  try {
    await poll.connect();
    writer = await Writer.connect(database.url);
    await writer.prepare(Math.ceil(plannedChanges(options.plan) / CHANGE_KINDS.length) + 1);
    const started = await startContender(contender, { DATABASE_URL: database.url, REDIS_URL: redisServer.url() });
    if ('rejected' in started) return { skipped: started.rejected };
    running = started;
    const pid = running.cli.child.pid!;
    const sampler = startCpuSampler(pid, database.name, { intervalMs: 250, excludePids: new Set([writer.backendPid]) });
    stops.push(() => sampler.stop());
    const deadline = Date.now() + 300_000;
    while (runLogs(running).length === 0) {
      if (Date.now() > deadline || running.cli.child.exitCode !== null) throw new Error(`${contender.name}: no run finished after its start`);
      await sleep(100);
      throwIfInterrupted();
    }

    // The baseline: every covered key as the start run wrote it, before the first commit.
    const keys = [...coveredKeys().keys()];
    const startedAt = new Date();
    const context = { cutoffLabel: cutoffLabel(startedAt), quietPeriods: quietPeriods(startedAt, template.newest) };
    const baseline = await poll.mget(...keys);
    const watches = keys.flatMap((key, index) => (baseline[index] ? watchesOf(key, JSON.parse(baseline[index]!), context) : []));
    const histories: FieldHistory[] = watches.map((watch, index) => ({
      key: watch.key, kind: watch.kind, field: watch.field, base: watch.read(JSON.parse(baseline[keys.indexOf(watch.key)]!))!, changes: [],
    }));
    note(`${contender.name}: ${watches.length} watched fields over ${new Set(watches.map((w) => w.key)).size} keys ` +
      `(${CHANGE_KINDS.map((kind) => `${kind} ${new Set(watches.filter((w) => w.kind === kind).map((w) => w.key)).size} keys`).join(', ')})`);
    const poller = startPoller(poll, keys, watches, histories);
    stops.push(() => poller.stop());
    const readings: Array<{ at: number; server: number; cli: number }> = [];
    const cpuTimer = setInterval(() => {
      const totals = sampler.read();
      readings.push({ at: Date.now(), server: totals.serverCpuMs, cli: totals.cliThreadsCpuMs });
    }, CPU_READ_MS);
    stops.push(() => clearInterval(cpuTimer));

    const commits: Commit[] = [];
    const ordinals: Record<ChangeKind, number> = { new_run: 0, run_finished: 0, new_user: 0 };
    let changeIndex = 0;
    const windows: Array<{ name: ScenarioName; from: number; to: number; noise: number; peak: number | null; metricsBefore: Map<string, number>; metricsAfter: Map<string, number> }> = [];
    for (const { name, durationMs } of options.plan) {
      note(`${contender.name}: ${name} (${SCENARIOS[name].description}), ${durationMs / 1000} s + ${options.drainMs / 1000} s drain`);
      const metricsBefore = samplesOf(await running.metrics(), 'stats_refresh_runs_total');
      const from = Date.now();
      let noise = 0;
      for (const write of SCENARIOS[name].writes(durationMs)) {
        await sleep(from + write.offsetMs - Date.now());
        throwIfInterrupted();
        if (write.what === 'progress') {
          await writer.progress();
          noise += 1;
          continue;
        }
        const kind = CHANGE_KINDS[changeIndex++ % CHANGE_KINDS.length]!;
        ordinals[kind] += 1;
        commits.push({ kind, ordinal: ordinals[kind], at: await writer.commit(kind), scenario: name });
      }
      await sleep(from + durationMs + options.drainMs - Date.now());
      throwIfInterrupted();
      windows.push({ name, from, to: from + durationMs, noise, peak: peakRssMib(pid), metricsBefore, metricsAfter: samplesOf(await running.metrics(), 'stats_refresh_runs_total') });
    }
    clearInterval(cpuTimer);
    await poller.stop();
    sampler.stop();
    const exitCode = await running.stop(30_000);
    if (exitCode !== 0) note(`${contender.name}: schedule exited ${exitCode}`);

    const deadlineOf = new Map(windows.map((window) => [window.name, window.to + options.drainMs]));
    const lags = commitLags(commits, histories, (commit) => deadlineOf.get(commit.scenario as ScenarioName)!);
    const logs = runLogs(running);
    const runMs = spread(logs.filter((log) => log.reason !== 'start').map((log) => log.durationMs)).median;
    const families = familiesByKind(watches);
    const pgReadings: CpuReading[] = readings.map((reading) => ({ at: reading.at, cpuMs: reading.server }));
    const cliReadings: CpuReading[] = readings.map((reading) => ({ at: reading.at, cpuMs: reading.cli }));
    return windows.map((window): ScenarioResult => {
      const own = lags.filter((lag) => lag.commit.scenario === window.name);
      const byKind = Object.fromEntries(
        CHANGE_KINDS.filter((kind) => own.some((lag) => lag.commit.kind === kind)).map((kind) => [kind, summarizeLags(own.filter((lag) => lag.commit.kind === kind))]),
      );
      const reasons: Record<string, number> = {};
      for (const log of logs) if (log.at >= window.from && log.at < window.to + options.drainMs) reasons[log.reason] = (reasons[log.reason] ?? 0) + 1;
      return {
        contender: contender.name,
        scenario: window.name,
        durationMs: window.to - window.from,
        drainMs: options.drainMs,
        commits: own.length,
        noiseWrites: window.noise,
        lags: own.length ? { all: summarizeLags(own), ...byKind } : {},
        estimateMs: running!.schedules && own.length ? cronEstimate(own.map((lag) => lag.commit), running!.schedules, families, Number.isFinite(runMs) ? runMs : 0) : null,
        runsByReason: reasons,
        runsMetrics: increases(window.metricsBefore, window.metricsAfter),
        pgCpuPerMinuteMs: spread(cpuPerMinute(pgReadings, window.from, window.to)),
        pgCpuMeanPerMinuteMs: cpuMeanPerMinute(pgReadings, window.from, window.to),
        cliCpuPerMinuteMs: spread(cpuPerMinute(cliReadings, window.from, window.to)),
        peakRssMib: window.peak,
      };
    });
  } finally {
    for (const stop of stops) await stop();
    if (running && running.cli.child.exitCode === null) await running.stop(5_000);
    await writer?.close().catch(() => undefined);
    poll.disconnect();
    await redisServer.stop();
    await database.drop().catch((error: unknown) => note(`could not drop ${database.name}: ${(error as Error).message}`));
  }
}

async function main(argv: string[]): Promise<number> {
  const options = parseCli(argv);
  if (!existsSync(CLI)) {
    note('dist/cli.js is missing: running npm run build');
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  const template = await ensureTemplate(options);
  const now = new Date();
  if (template.newest.toISOString().slice(0, 19) >= cutoffLabel(now)) {
    throw new Error(`the seed's newest row (${template.newest.toISOString()}) is in this week or month: the harness could not tell its rows from the seed's`);
  }
  const results: ScenarioResult[] = [];
  const skipped: Array<{ contender: string; reason: string }> = [];
  for (const contender of options.contenders) {
    note(`contender ${contender.name}: schedule ${contender.argv.join(' ')}`.trimEnd());
    const outcome = await measureContender(contender, options, template);
    if ('skipped' in outcome) {
      note(`contender ${contender.name} skipped: the CLI rejects it (${outcome.skipped})`);
      skipped.push({ contender: contender.name, reason: outcome.skipped });
    } else {
      results.push(...outcome);
    }
  }
  process.stdout.write(
    `freshness of schedule: ${template.name} (${options.users} users, ${options.scripts} scripts, ${options.executions} executions, ` +
      `seed ${DEFAULT_SEED} at ${SEED_NOW}), real clock, ${now.toISOString()}\n\n${formatReport(results)}\n`,
  );
  for (const { contender, reason } of skipped) process.stdout.write(`contender ${contender}: skipped, the CLI rejects it (${reason})\n`);
  if (options.json) {
    await writeFile(options.json, `${JSON.stringify({ started: now.toISOString(), template: template.name, sizes: { users: options.users, scripts: options.scripts, executions: options.executions }, plan: options.plan, drain_ms: options.drainMs, results, skipped }, null, 2)}\n`);
  }
  return 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    note(`${signal}: stopping`);
    interrupted.abort();
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`freshness: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`freshness: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
