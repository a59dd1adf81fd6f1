/**
 * The real image, built from the Dockerfile by podman (`npm run image`), inspected and run
 * as production runs it: read-only root, the Compose file's user, tmpfs, dropped
 * capabilities and no-new-privileges, on the host's network to the local PostgreSQL and a
 * private redis-server. What the deploy tests once modelled (stages, COPY, USER, the
 * context) is checked here on the result.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_KEYS, goldenValue } from '../helpers/golden.js';
import { GOLDEN_NOW, databaseFromTemplate, goldenTemplate, readKeys, type TestDatabase } from '../helpers/services.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { IMAGE, PROJECT_ROOT, composeServices, durationSeconds, exec, inspect, podman, podmanOk, productionFlags, waitFor } from './engine.js';

const PACKAGE = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const CI_NODE_VERSION = /^NODE24_VERSION=(\S+)$/m.exec(readFileSync(join(PROJECT_ROOT, '.ci/run'), 'utf8'))?.[1];
const NAME = `sr-image-${process.pid}`;

let database: TestDatabase;
let redis: RedisServer;
let client: TestRedisClient;

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'container');
  redis = await RedisServer.start();
  client = await redis.client(0);
});

afterAll(async () => {
  await podman(['rm', '--force', '--ignore', '--time', '0', `${NAME}-schedule`], 60_000);
  await client?.close();
  await redis?.stop();
  await database?.drop();
});

/** `podman run` of the image as production runs it, on the host's network. */
let runs = 0;
function run(args: readonly string[], env: Record<string, string> = {}) {
  const envFlags = Object.entries(env).flatMap(([name, value]) => ['--env', `${name}=${value}`]);
  // Named, so scripts/container-check.sh can remove one a killed test left behind.
  const name = `${NAME}-run${++runs}`;
  return podman(['run', '--rm', '--name', name, '--pull=never', '--network', 'host', ...productionFlags(), ...envFlags, IMAGE, ...args], 120_000);
}

function connections(): Record<string, string> {
  return { DATABASE_URL: database.url, REDIS_URL: redis.url(0), TZ: 'UTC' };
}

/** Every stderr line must be one JSON log record. */
function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`stderr line is not JSON: ${line}`);
      }
    });
}

describe('the image', () => {
  it('is configured as the Dockerfile says, on the stand-in base of the Node.js CI tests on', async () => {
    const image = await inspect('image', IMAGE);
    expect(image.Config.User).toBe('1000:1000');
    expect(image.Config.Entrypoint).toEqual(['node', `/app/${PACKAGE.bin['stats-refresh']}`]);
    expect(image.Config.Cmd).toEqual(['--help']);
    expect(image.Config.WorkingDir).toBe('/app');
    expect(image.Config.Env).toEqual(expect.arrayContaining(['NODE_ENV=production', `NODE_VERSION=${CI_NODE_VERSION}`]));
    // The same user the Compose file and the Kubernetes pods name.
    expect(composeServices()['stats-refresh']!.user).toBe(image.Config.User);
  });

  it('holds only package.json and the bundle in /app, root-owned, with no node_modules; runs as uid 1000 by default', async () => {
    const probe = await podmanOk(
      [
        'run', '--rm', '--pull=never', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c',
        'id -u; id -g; ls -A /app | tr "\\n" " "; echo; find /app -name node_modules | wc -l; find /app ! -user 0 | wc -l; ' +
          'if [ -w /app/dist/cli.js ] || [ -w /app ]; then echo writable; else echo read-only; fi; node --version',
      ],
      120_000,
    );
    expect(probe.trim().split('\n')).toEqual(['1000', '1000', 'dist package.json ', '0', '0', 'read-only', `v${CI_NODE_VERSION}`]);
  });

  it('builds from a context that .dockerignore keeps to what the Dockerfile needs', async () => {
    // A copy of the tracked files plus what a developer's tree holds: the engine's own
    // .dockerignore handling decides what a build sees.
    const work = mkdtempSync(join(tmpdir(), 'stats-refresh-context-'));
    const probe = mkdtempSync(join(tmpdir(), 'stats-refresh-probe-'));
    try {
      const files = (await exec('git', ['ls-files', '-z'], { cwd: PROJECT_ROOT })).stdout.split('\0').filter(Boolean);
      for (const file of files) {
        mkdirSync(join(work, file, '..'), { recursive: true });
        cpSync(join(PROJECT_ROOT, file), join(work, file));
      }
      for (const planted of ['node_modules/pg/index.js', 'dist/cli.js', '.env', '.env.production', 'src/.env.local', 'coverage/x', 'debug.log']) {
        mkdirSync(join(work, planted, '..'), { recursive: true });
        writeFileSync(join(work, planted), 'planted\n');
      }
      writeFileSync(join(probe, 'Containerfile'), `FROM ${IMAGE}\nCOPY . /context/\n`);
      const tag = `localhost/stats-refresh-context-probe:${process.pid}`;
      try {
        await podmanOk(['build', '--pull=never', '--network', 'none', '--layers=false', '--file', join(probe, 'Containerfile'), '--tag', tag, work], 300_000);
        const listing = await podmanOk(['run', '--rm', '--pull=never', '--network', 'none', '--entrypoint', 'sh', tag, '-c', 'cd /context && find . -type f | sort'], 120_000);
        const seen = listing.trim().split('\n').map((path) => path.replace(/^\.\//, ''));
        for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'tools/build.mjs', 'src/cli.ts']) expect(seen).toContain(needed);
        const leaked = seen.filter((path) => !/^(src\/|package\.json$|package-lock\.json$|tsconfig(\.build)?\.json$|tools\/build\.mjs$)/.test(path) || /\.env/.test(path));
        expect(leaked).toEqual([]);
      } finally {
        await podman(['rmi', '--force', tag], 60_000);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
      rmSync(probe, { recursive: true, force: true });
    }
  }, 400_000);
});

describe('run as production runs it', () => {
  it('--help answers, on the image entrypoint', async () => {
    const result = await run(['--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Usage: stats-refresh/);
    expect(result.stderr).toBe('');
  });

  it('refresh all on the golden database writes the API\'s entries, with JSON lines only on stderr', async () => {
    const result = await run(['refresh', 'all', '--now', GOLDEN_NOW], connections());
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout.trim()) as { total_refreshed: number; successful: number; failed: number; cache_keys: string[] };
    expect(summary).toMatchObject({ total_refreshed: 26, successful: 26, failed: 0 });
    const logs = logLines(result.stderr);
    expect(logs.map((log) => log.msg)).toEqual(expect.arrayContaining(['refresh started', 'refresh finished']));
    const written = await readKeys(client, 'stats_service:*');
    expect([...written.keys()].sort()).toEqual([...GOLDEN_KEYS]);
    for (const key of GOLDEN_KEYS) expect(JSON.parse(written.get(key)!), key).toStrictEqual(goldenValue(key));
  });

  it('warmup waits for the services, refreshes every family and exits 0', async () => {
    await client.flushdb();
    const result = await run(['warmup'], { ...connections(), STATS_REFRESH_WAIT_TIMEOUT: '30' });
    expect(result.code, result.stderr).toBe(0);
    logLines(result.stderr);
    expect((await readKeys(client, 'stats_service:*')).size).toBe(GOLDEN_KEYS.length);
  });

  it('a bad variable stops it with exit 2 and one line naming it', async () => {
    const result = await run(['refresh', 'all'], { ...connections(), STATS_CACHE_TTL: 'soon' });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/STATS_CACHE_TTL/);
  });

  it('schedule answers the Compose healthcheck, then exits 0 within the stop grace period on SIGTERM', async () => {
    const service = composeServices()['stats-refresh']!;
    const [kind, ...healthCommand] = service.healthcheck.test as string[];
    expect(kind).toBe('CMD');
    const env = { ...connections(), ...(service.environment as Record<string, string>) };
    const name = `${NAME}-schedule`;
    const envFlags = Object.entries(env).flatMap(([variable, value]) => ['--env', `${variable}=${value}`]);
    await podmanOk(
      ['run', '--detach', '--name', name, '--pull=never', '--network', 'host', ...productionFlags(service), ...envFlags,
        // No systemd here to schedule podman's healthchecks: the test runs the command itself.
        '--health-cmd', JSON.stringify(healthCommand), '--health-interval', 'disable', IMAGE, ...(service.command as string[])],
      120_000,
    );
    await waitFor(
      'the healthcheck passing',
      async () => ((await podman(['healthcheck', 'run', name], 30_000)).code === 0 ? true : undefined),
      60_000,
      1000,
    );
    expect((await inspect('container', name)).State.Health.Status).toBe('healthy');
    const grace = durationSeconds(service.stop_grace_period);
    const stop = await podman(['stop', '--time', String(grace), name], (grace + 30) * 1000);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.ms).toBeLessThan(grace * 1000);
    const state = (await inspect('container', name)).State;
    expect(state.ExitCode).toBe(0);
    // podman logs keeps the streams apart: schedule prints nothing on stdout.
    const logs = await podman(['logs', name]);
    expect(logs.stdout).toBe('');
    expect(logLines(logs.stderr).map((log) => log.msg)).toEqual(expect.arrayContaining(['schedule started', 'schedule stopped']));
  }, 180_000);
});
