/**
 * deploy/compose/docker-compose.stats-refresh.yml brought up for real: docker-compose 1.29
 * drives podman through its Docker-compatible socket (`podman system service` on a unix
 * socket of the test's own), beside a stand-in of the API's compose file
 * (compose-api.yml). The warm-up must finish before the API starts, the scheduler must
 * become healthy, the keys must reach Redis, and `down` must leave nothing behind.
 *
 * The containers sit on the `backend` bridge network, as in production, so they cannot
 * reach the host's loopback, where PostgreSQL and the test's private redis-server listen:
 * the test relays both on the bridge's gateway (host.containers.internal). Compose refuses
 * `network_mode: host` beside `networks:`, so host networking is not an option here.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_KEYS } from '../helpers/golden.js';
import { databaseFromTemplate, goldenTemplate, readKeys, type TestDatabase } from '../helpers/services.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { COMPOSE_FILE, IMAGE, PODMAN, PROJECT_ROOT, composeServices, durationSeconds, exec, inspect, podman, podmanOk, startRelay, waitFor } from './engine.js';

const PROJECT = `srcompose${process.pid}`;
const BASE_IMAGE = `docker.io/library/node:${/^FROM\s+node:(\S+?)(?:@\S+)?\s/m.exec(readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8'))?.[1]}`;
// A /24 of its own for the backend network; its gateway is host.containers.internal.
const SUBNET_BYTE = 100 + (process.pid % 150);
const SUBNET = `10.213.${SUBNET_BYTE}.0/24`;
const GATEWAY = `10.213.${SUBNET_BYTE}.1`;

let work: string;
let database: TestDatabase;
let redis: RedisServer;
let client: TestRedisClient;
let relays: Array<Awaited<ReturnType<typeof startRelay>>> = [];
let service: ChildProcess | undefined;
let socketPath: string;

function composeEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DOCKER_HOST: `unix://${socketPath}`,
    STATS_REFRESH_IMAGE: IMAGE,
    API_IMAGE: BASE_IMAGE,
    BACKEND_SUBNET: SUBNET,
  };
}

function compose(args: readonly string[], timeoutMs: number) {
  return exec('docker-compose', ['--project-name', PROJECT, '--project-directory', work, '-f', join(work, 'api.yml'), '-f', COMPOSE_FILE, ...args], {
    env: composeEnv(),
    timeoutMs,
  });
}

/** GET /_ping on the podman socket: 200 once the service answers. */
function ping(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Containers of this Compose project, by service. */
async function projectContainers(): Promise<Record<string, string>> {
  const out = await podmanOk(['ps', '--all', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Names}} {{index .Labels "com.docker.compose.service"}}']);
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ').reverse() as [string, string]),
  );
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'stats-refresh-compose-'));
  socketPath = join(work, 'podman.sock');
  database = await databaseFromTemplate(goldenTemplate(), 'compose');
  redis = await RedisServer.start();
  client = await redis.client(0);
  relays = [await startRelay(5432), await startRelay(redis.port)];
  for (const relay of relays) relay.acceptOn(GATEWAY);
  copyFileSync(join(import.meta.dirname, 'compose-api.yml'), join(work, 'api.yml'));
  const databaseName = new URL(database.url).pathname;
  writeFileSync(
    join(work, 'prod.env'),
    `DATABASE_URL=postgres://postgres@host.containers.internal:${relays[0]!.port}${databaseName}\n` +
      `REDIS_URL=redis://host.containers.internal:${relays[1]!.port}/0\n`,
  );
  // --time: should this process die without its afterAll, the service still ends once idle.
  service = spawn(PODMAN, ['system', 'service', '--time=300', `unix://${socketPath}`], { stdio: 'ignore', detached: true });
  // For scripts/container-check.sh's clean-up, whatever happens to this process.
  writeFileSync(join(work, 'podman-service.pid'), String(service.pid));
  await waitFor('podman system service answering', async () => ((await ping()) ? true : undefined), 30_000, 200);
});

afterAll(async () => {
  // Whatever happened above: nothing of the project may outlive the test.
  if (work && service) await compose(['down', '--volumes', '--timeout', '5'], 120_000).catch(() => undefined);
  const left = await projectContainers().catch(() => ({}));
  if (Object.keys(left).length > 0) await podman(['rm', '--force', '--time', '0', ...Object.values(left)], 60_000);
  await podman(['network', 'rm', '--force', `${PROJECT}_backend`], 30_000);
  if (service?.pid) {
    try {
      process.kill(-service.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (const relay of relays) await relay.close();
  await client?.close();
  await redis?.stop();
  await database?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('docker-compose up against podman', () => {
  let up: Awaited<ReturnType<typeof compose>>;
  let containers: Record<string, string>;

  beforeAll(async () => {
    up = await compose(['up', '--detach'], 300_000);
    containers = await projectContainers();
  }, 320_000);

  it('creates the three services', () => {
    expect(up.code, up.stderr).toBe(0);
    expect(Object.keys(containers).sort()).toEqual(['api', 'stats-refresh', 'stats-refresh-warmup']);
  });

  it('finishes the warm-up (exit 0) before the API starts, which then finds the cache warm', async () => {
    const warmup = (await inspect('container', containers['stats-refresh-warmup']!)).State;
    const api = (await inspect('container', containers.api!)).State;
    expect(warmup.ExitCode).toBe(0);
    expect(Date.parse(warmup.FinishedAt)).toBeLessThanOrEqual(Date.parse(api.StartedAt));
    const logs = await waitFor(
      'the API stand-in reporting',
      async () => {
        const out = await podmanOk(['logs', containers.api!]);
        return out.includes('api started') ? out : undefined;
      },
      30_000,
    );
    expect(logs).toMatch(/api started; warm key: :1/);
  });

  it('the scheduler becomes healthy by its own healthcheck', { timeout: 240_000 }, async () => {
    const name = containers['stats-refresh']!;
    // No systemd here to run podman's healthchecks on their interval: run the same check now,
    // for as long as Docker would before calling it unhealthy (start period + retries × interval).
    const health = composeServices()['stats-refresh']!.healthcheck;
    const boundMs = (durationSeconds(health.start_period) + health.retries * durationSeconds(health.interval)) * 1000;
    let last = '';
    await waitFor(
      'stats-refresh healthy',
      async () => {
        const check = await podman(['healthcheck', 'run', name], 30_000);
        last = `exit ${check.code}: ${check.stdout}${check.stderr}`;
        return check.code === 0 ? true : undefined;
      },
      boundMs,
      1000,
    ).catch(async (error: Error) => {
      const logs = await podman(['logs', '--tail', '5', name]);
      throw new Error(`${error.message}; last check ${last}; logs: ${logs.stderr}`);
    });
    const state = (await inspect('container', name)).State;
    expect(state.Health.Status).toBe('healthy');
    expect(state.Running).toBe(true);
  });

  it('writes every covered key to Redis, with the Compose file\'s TTL', async () => {
    const keys = await readKeys(client, 'stats_service:*');
    expect([...keys.keys()].sort()).toEqual([...GOLDEN_KEYS]);
    const ttl = await client.ttl(GOLDEN_KEYS[0]!);
    expect(ttl).toBeGreaterThan(600);
    expect(ttl).toBeLessThanOrEqual(750);
  });

  it('down removes the containers and the network', async () => {
    const down = await compose(['down', '--volumes', '--timeout', '30'], 120_000);
    expect(down.code, down.stderr).toBe(0);
    expect(await projectContainers()).toEqual({});
    const networks = await podmanOk(['network', 'ls', '--format', '{{.Name}}']);
    expect(networks.split('\n')).not.toContain(`${PROJECT}_backend`);
  });
});
