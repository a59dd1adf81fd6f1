/**
 * Soak test of `stats-refresh schedule`: is the cache really kept warm under faults?
 *
 *   npm run soak -- [--minutes 10] [--fault-every 60] [--check-interval 5] [--redis-url URL]
 *                   [--users N] [--scripts N] [--executions N] [--json]
 *
 * Seeds a fresh database, starts a private redis-server (unless --redis-url is given),
 * runs the built CLI's `schedule` with its default schedules against them, and injects a
 * fault every --fault-every seconds, in turn: Redis flushed (FLUSHDB), Redis restarted
 * (SIGKILL and a new empty server on the same port; only for the private server, else
 * another flush), PostgreSQL connections of stats-refresh terminated. Every second it
 * checks every covered key with one pipeline of EXISTS (a sample while Redis is down counts
 * as every key missing: the API would find none). At the end it stops the scheduler with
 * SIGTERM, reads its /metrics, drops the database and prints: the share of samples in
 * which every key was present, the longest gap per key, the runs per family and the faults.
 * It reports; it exits 1 only when the scheduler did not exit 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { coveredKeys } from '../src/requests/covered.js';
import { createDatabase, dropDatabase, seedDatabase } from '../tools/seed-lib.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const ADMIN_URL = process.env.SOAK_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'fault-every': { type: 'string', default: '60' },
    'check-interval': { type: 'string' },
    'redis-url': { type: 'string' },
    users: { type: 'string', default: '5000' },
    scripts: { type: 'string', default: '100' },
    executions: { type: 'string', default: '100000' },
    json: { type: 'boolean', default: false },
  },
});

type Fault = 'redis-flush' | 'redis-restart' | 'pg-terminate';
const FAULT_ORDER: readonly Fault[] = ['redis-flush', 'redis-restart', 'pg-terminate'];
const say = (text: string) => process.stderr.write(`soak: ${text}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of our own, which a fault may kill and start again, empty, on the same port. */
class PrivateRedis {
  private server: ChildProcess | null = null;
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    this.server = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    for (let attempt = 0; ; attempt++) {
      try {
        await probe.connect();
        await probe.ping();
        break;
      } catch (error) {
        if (attempt > 100) throw error;
        await sleep(20);
      }
    }
    probe.disconnect();
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      server.once('exit', () => resolve());
      server.kill('SIGKILL');
    });
  }
}

interface KeyGaps {
  /** Consecutive missing samples now. */
  current: number;
  longest: number;
}

async function main(): Promise<number> {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found; run "npm run build" first`);
  const durationMs = Number(args.minutes) * 60_000;
  const faultEveryMs = Number(args['fault-every']) * 1000;
  const name = `stats_refresh_soak_${randomBytes(3).toString('hex')}`;
  const databaseUrl = await createDatabase(ADMIN_URL, name);
  const redis = args['redis-url'] ? null : new PrivateRedis(await freePort());
  const redisUrl = args['redis-url'] ?? `redis://127.0.0.1:${redis!.port}/0`;
  let scheduler: ChildProcess | null = null;
  try {
    const seeded = await seedDatabase({
      databaseUrl,
      users: Number(args.users),
      scripts: Number(args.scripts),
      executions: Number(args.executions),
      now: new Date(),
    });
    say(`seeded ${name}: ${JSON.stringify(seeded)}`);
    await redis?.start();

    const schedulerArgs = [CLI, 'schedule', '--metrics-port', '0', '--metrics-host', '127.0.0.1'];
    if (args['check-interval']) schedulerArgs.push('--check-interval', args['check-interval']);
    scheduler = spawn(process.execPath, schedulerArgs, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => scheduler!.once('exit', (code) => resolve(code)));
    const metricsPort = await new Promise<number>((resolve, reject) => {
      let buffer = '';
      scheduler!.stderr!.on('data', (chunk) => {
        buffer += chunk;
        for (const line of buffer.split('\n')) {
          try {
            const log = JSON.parse(line) as { msg?: string; metrics?: { port: number } };
            if (log.msg === 'schedule started' && log.metrics) resolve(log.metrics.port);
          } catch {
            // partial line
          }
        }
        buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
      });
      void exited.then((code) => reject(new Error(`schedule exited ${code} before starting`)));
    });
    say(`schedule started (metrics on 127.0.0.1:${metricsPort}); ${args.minutes} min, a fault every ${args['fault-every']} s`);

    const keys = [...coveredKeys().keys()];
    const gaps = new Map<string, KeyGaps>(keys.map((key) => [key, { current: 0, longest: 0 }]));
    const sampler = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50, connectTimeout: 500 });
    sampler.on('error', () => undefined);
    let samples = 0;
    let complete = 0;
    const faults: Array<{ at_s: number; fault: Fault }> = [];
    const startedAt = Date.now();

    const sample = async () => {
      let present: boolean[];
      try {
        const pipeline = sampler.pipeline();
        for (const key of keys) pipeline.exists(key);
        const replies = (await pipeline.exec()) ?? [];
        present = keys.map((_, index) => replies[index]?.[0] === null && replies[index]?.[1] === 1);
      } catch {
        present = keys.map(() => false);
      }
      samples += 1;
      if (present.every(Boolean)) complete += 1;
      keys.forEach((key, index) => {
        const gap = gaps.get(key)!;
        gap.current = present[index] ? 0 : gap.current + 1;
        gap.longest = Math.max(gap.longest, gap.current);
      });
    };

    const inject = async (fault: Fault) => {
      faults.push({ at_s: Math.round((Date.now() - startedAt) / 1000), fault });
      say(`fault: ${fault}`);
      if (fault === 'redis-flush' || (fault === 'redis-restart' && !redis)) {
        const admin = new Redis(redisUrl, { lazyConnect: true });
        await admin.connect();
        await admin.flushdb();
        admin.disconnect();
      } else if (fault === 'redis-restart') {
        await redis!.stop();
        await redis!.start();
      } else {
        const client = new pg.Client({ connectionString: ADMIN_URL });
        await client.connect();
        try {
          await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'stats-refresh'`, [name]);
        } finally {
          await client.end();
        }
      }
    };

    // Let the start-up run finish before the first sample: the soak measures keeping warm, not warming.
    await sleep(5_000);
    let nextFault = Date.now() + faultEveryMs / 2;
    let faultIndex = 0;
    const deadline = Date.now() + durationMs;
    for (let tick = Date.now(); tick < deadline; tick += 1000) {
      await sleep(Math.max(0, tick - Date.now()));
      void sample();
      if (Date.now() >= nextFault) {
        // At a random moment between two samples, so that the faults do not favour the sampling.
        const fault = FAULT_ORDER[faultIndex % FAULT_ORDER.length]!;
        setTimeout(() => void inject(fault), Math.random() * 1000);
        faultIndex += 1;
        nextFault += faultEveryMs;
      }
    }
    await sleep(500);

    const metricsText = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((response) => response.text());
    scheduler.kill('SIGTERM');
    const code = await exited;
    sampler.disconnect();

    const counter = (metric: string) => {
      const totals: Record<string, Record<string, number>> = {};
      for (const match of metricsText.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
        const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((label) => [label[1], label[2]]));
        (totals[labels.family!] ??= {})[labels.result ?? 'count'] = Number(match[2]);
      }
      return totals;
    };
    const longest = [...gaps].map(([key, gap]) => ({ key, longest_gap_s: gap.longest })).sort((a, b) => b.longest_gap_s - a.longest_gap_s);
    const report = {
      minutes: Number(args.minutes),
      fault_every_s: Number(args['fault-every']),
      check_interval_s: args['check-interval'] ? Number(args['check-interval']) : 5,
      database: seeded,
      samples,
      complete_samples: complete,
      share_complete_percent: Math.round((10_000 * complete) / samples) / 100,
      longest_gap_s: longest[0]?.longest_gap_s ?? 0,
      longest_gaps: longest.filter((entry) => entry.longest_gap_s > 0),
      runs: counter('stats_refresh_runs_total'),
      self_heals: counter('stats_refresh_self_heals_total'),
      faults,
      schedule_exit_code: code,
    };
    say(
      `${report.share_complete_percent} % of ${samples} samples had every key present; longest gap ${report.longest_gap_s} s; ` +
        `runs ${JSON.stringify(report.runs)}; self-heals ${JSON.stringify(report.self_heals)}; ${faults.length} faults; schedule exit ${code}`,
    );
    if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return code === 0 ? 0 : 1;
  } finally {
    if (scheduler && scheduler.exitCode === null) scheduler.kill('SIGKILL');
    await redis?.stop();
    await dropDatabase(ADMIN_URL, name).catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
