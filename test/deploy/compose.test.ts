/**
 * deploy/compose/: the Compose and Swarm services, validated and rendered offline by the
 * real docker-compose (`config`, no Docker engine), merged with a stand-in of the API's
 * compose file (its `api` service and `backend` network), then checked against the
 * deployment policies: the API's conventions (env_file prod.env, backend network, image
 * from a variable), non-root and read-only, restart, a healthcheck that really asks
 * /healthz, the warm-up the API depends on. Each policy is also run on a broken copy.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../helpers/cli.js';
import { PROJECT_ROOT, dockerfileUser } from './paths.js';

const DIR = join(PROJECT_ROOT, 'deploy/compose');
const COMPOSE = 'docker-compose.stats-refresh.yml';
const SWARM = 'docker-compose.swarm.yml';
const SWARM_SECRETS = 'docker-compose.swarm-secrets.yml';
const IMAGE = 'registry.example.org/trends-earth/stats-refresh:0.1.0';
const DOCKER_USER = dockerfileUser();
/** The users' schedule's longest gap (360 s) plus the default statement timeout: the TTL must exceed it. */
const TTL_BOUND = 360 + 60;

const STAND_IN_API = `
services:
  api:
    image: \${API_IMAGE}
    command: start
    env_file: [prod.env]
    networks: [backend]
networks:
  backend:
    driver: overlay
    attachable: true
`;

type Service = Record<string, any>;
interface Rendered {
  services: Record<string, Service>;
}

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'stats-refresh-compose-'));
  cpSync(DIR, work, { recursive: true });
  writeFileSync(join(work, 'api.yml'), STAND_IN_API);
  writeFileSync(join(work, 'prod.env'), 'DATABASE_URL=postgres://u:p@db:5432/trendsearth\nREDIS_URL=redis://redis:6379/0\n');
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

function config(file: string, env: Record<string, string> = { STATS_REFRESH_IMAGE: IMAGE, API_IMAGE: 'api:1' }) {
  const result = spawnSync('docker-compose', ['-f', 'api.yml', '-f', file, 'config'], {
    cwd: work,
    // HOME is the test's folder: docker-compose would read the machine user's ~/.docker otherwise.
    env: { PATH: process.env.PATH, HOME: work, ...env },
    encoding: 'utf8',
  });
  if (result.error) throw new Error(`docker-compose not runnable (${result.error.message}); .ci/run installs Debian's docker-compose`);
  return { code: result.status, stderr: result.stderr, rendered: result.status === 0 ? (parse(result.stdout) as Rendered) : null };
}

function render(file: string): Rendered {
  const { code, stderr, rendered } = config(file);
  expect(code, stderr).toBe(0);
  return rendered!;
}

/** The port the healthcheck asks, and the path. */
function healthTarget(service: Service): { port: number; path: string } | null {
  const test = (service.healthcheck?.test ?? []) as string[];
  const match = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(test.join(' '));
  return match ? { port: Number(match[1]), path: match[2]! } : null;
}

function serviceProblems(name: string, service: Service | undefined, swarm: boolean, secrets = false): string[] {
  if (!service) return [`${name}: missing`];
  const problems: string[] = [];
  const env = (service.environment ?? {}) as Record<string, string>;
  if (service.image !== IMAGE) problems.push(`${name}: image ${service.image}, expected \${STATS_REFRESH_IMAGE}`);
  if (!secrets && (env.DATABASE_URL === undefined || env.REDIS_URL === undefined)) problems.push(`${name}: DATABASE_URL and REDIS_URL must come from env_file prod.env`);
  if (!Object.keys(service.networks ?? {}).includes('backend')) problems.push(`${name}: not on the backend network`);
  if (service.read_only !== true) problems.push(`${name}: read_only must be true`);
  if (service.user !== DOCKER_USER) problems.push(`${name}: user ${service.user}, the image's USER is ${DOCKER_USER}`);
  if (!(service.cap_drop ?? []).includes('ALL')) problems.push(`${name}: cap_drop ALL missing`);
  if (!(service.tmpfs ?? []).some((mount: string) => mount.startsWith('/tmp'))) problems.push(`${name}: no tmpfs on /tmp`);
  if (!(Number(env.STATS_CACHE_TTL) > TTL_BOUND)) problems.push(`${name}: STATS_CACHE_TTL ${env.STATS_CACHE_TTL} must exceed ${TTL_BOUND}`);
  if (name === 'stats-refresh') {
    if (service.command?.[0] !== 'schedule') problems.push(`${name}: command ${service.command}, expected schedule`);
    const target = healthTarget(service);
    if (!target || target.path !== '/healthz' || String(target.port) !== env.STATS_REFRESH_METRICS_PORT) {
      problems.push(`${name}: the healthcheck must ask /healthz on STATS_REFRESH_METRICS_PORT (${env.STATS_REFRESH_METRICS_PORT})`);
    }
    const restart = swarm ? service.deploy?.restart_policy?.condition : service.restart;
    if (restart !== (swarm ? 'any' : 'unless-stopped')) problems.push(`${name}: restart ${restart}`);
    if (!/^\d+s$/.test(service.stop_grace_period ?? '') || !(parseInt(service.stop_grace_period, 10) > 20)) {
      problems.push(`${name}: stop_grace_period ${service.stop_grace_period} must exceed the grace period (20 s)`);
    }
  }
  return problems;
}

function composeProblems(rendered: Rendered): string[] {
  const problems = [
    ...serviceProblems('stats-refresh', rendered.services['stats-refresh'], false),
    ...serviceProblems('stats-refresh-warmup', rendered.services['stats-refresh-warmup'], false),
  ];
  const warmup = rendered.services['stats-refresh-warmup'];
  if (JSON.stringify(warmup?.command) !== '["warmup","--best-effort"]') problems.push('warm-up: command must be warmup --best-effort');
  if (warmup?.restart !== 'no') problems.push('warm-up: a one-shot must not restart');
  if (rendered.services.api?.depends_on?.['stats-refresh-warmup']?.condition !== 'service_completed_successfully') {
    problems.push('api: must depend on the warm-up (service_completed_successfully)');
  }
  return problems;
}

function swarmProblems(rendered: Rendered): string[] {
  const service = rendered.services['stats-refresh'];
  const problems = serviceProblems('stats-refresh', service, true);
  if (service?.deploy?.replicas !== 1) problems.push('swarm: replicas must be 1');
  if (!service?.deploy?.resources?.limits?.memory) problems.push('swarm: memory limit missing');
  if (rendered.services['stats-refresh-warmup']) problems.push('swarm: no one-shot warm-up (Swarm restarts it in a loop)');
  return problems;
}

/**
 * The Swarm variant with secrets: the connection settings only as _FILE variables naming the
 * files its secrets mount (never with the variables themselves: that is exit 2), and the batch
 * file where its config is mounted.
 */
function swarmSecretsProblems(rendered: Rendered): string[] {
  const service = rendered.services['stats-refresh'];
  const problems = serviceProblems('stats-refresh', service, true, true);
  const env = (service?.environment ?? {}) as Record<string, string>;
  const secretFiles = ((service?.secrets ?? []) as Array<{ source: string; target?: string }>).map(
    (secret) => secret.target ?? `/run/secrets/${secret.source}`,
  );
  for (const variable of ['DATABASE_URL', 'REDIS_URL']) {
    if (env[variable] !== undefined) problems.push(`secrets: ${variable} set beside ${variable}_FILE`);
    if (!secretFiles.includes(env[`${variable}_FILE`] ?? '')) problems.push(`secrets: ${variable}_FILE does not name a mounted secret`);
  }
  const configFiles = ((service?.configs ?? []) as Array<{ target?: string }>).map((item) => item.target);
  if (!configFiles.includes(env.STATS_REFRESH_BATCH_FILE)) problems.push('secrets: STATS_REFRESH_BATCH_FILE does not name a mounted config');
  return problems;
}

describe('deploy/compose', () => {
  it('docker-compose validates the Swarm variant with secrets and a batch file; its policy catches a broken copy', () => {
    const rendered = render(SWARM_SECRETS);
    expect(swarmSecretsProblems(rendered)).toEqual([]);
    const broken = structuredClone(rendered);
    broken.services['stats-refresh']!.environment.DATABASE_URL = 'postgres://x@db/y';
    broken.services['stats-refresh']!.environment.REDIS_URL_FILE = '/run/secrets/other';
    broken.services['stats-refresh']!.environment.STATS_REFRESH_BATCH_FILE = '/tmp/requests.txt';
    expect(swarmSecretsProblems(broken)).toEqual([
      'secrets: DATABASE_URL set beside DATABASE_URL_FILE',
      'secrets: REDIS_URL_FILE does not name a mounted secret',
      'secrets: STATS_REFRESH_BATCH_FILE does not name a mounted config',
    ]);
  });

  it('docker-compose validates and renders the Compose services beside the API', () => {
    expect(composeProblems(render(COMPOSE))).toEqual([]);
  });

  it('docker-compose validates and renders the Swarm variant beside the API', () => {
    expect(swarmProblems(render(SWARM))).toEqual([]);
  });

  it('an unset STATS_REFRESH_IMAGE stops docker-compose with a message', () => {
    const { code, stderr } = config(COMPOSE, { API_IMAGE: 'api:1' });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/set STATS_REFRESH_IMAGE/);
  });

  it('the policies catch broken copies', () => {
    const broken = structuredClone(render(COMPOSE));
    const scheduler = broken.services['stats-refresh']!;
    delete scheduler.read_only;
    scheduler.user = '0:0';
    scheduler.environment.STATS_REFRESH_METRICS_PORT = '9999';
    delete broken.services.api!.depends_on;
    broken.services['stats-refresh-warmup']!.restart = 'always';
    expect(composeProblems(broken)).toEqual([
      'stats-refresh: read_only must be true',
      `stats-refresh: user 0:0, the image's USER is ${DOCKER_USER}`,
      'stats-refresh: the healthcheck must ask /healthz on STATS_REFRESH_METRICS_PORT (9999)',
      'warm-up: a one-shot must not restart',
      'api: must depend on the warm-up (service_completed_successfully)',
    ]);
    const swarm = structuredClone(render(SWARM));
    swarm.services['stats-refresh']!.deploy.replicas = 3;
    swarm.services['stats-refresh']!.deploy.restart_policy.condition = 'on-failure';
    expect(swarmProblems(swarm)).toEqual(['stats-refresh: restart on-failure', 'swarm: replicas must be 1']);
  });

  it('every service command is one the CLI accepts', () => {
    for (const file of [COMPOSE, SWARM, SWARM_SECRETS]) {
      for (const [name, service] of Object.entries(render(file).services)) {
        if (name === 'api') continue;
        const run = spawnSync(process.execPath, [CLI_PATH, ...(service.command as string[]), '--help'], { encoding: 'utf8' });
        expect(run.status, `${file} ${name}: ${run.stderr}`).toBe(0);
      }
    }
  });

  it('the healthcheck command exits 0 on 200 and 1 on 503 or when nothing listens', async () => {
    const test = render(COMPOSE).services['stats-refresh']!.healthcheck.test as string[];
    expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    let status = 200;
    const server = createServer((request, response) => response.writeHead(request.url === '/healthz' ? status : 404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Asynchronously: the server answers from this process.
    const check = (target: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn('node', ['-e', test[3]!.replace(':9464/', `:${target}/`)], { stdio: 'ignore' });
        child.on('exit', (code) => resolve(code));
      });
    try {
      expect(await check(port)).toBe(0);
      status = 503;
      expect(await check(port)).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await check(port)).toBe(1);
  });

  it('the files name no secret: connection strings only come from prod.env', () => {
    for (const file of [COMPOSE, SWARM]) expect(readFileSync(join(DIR, file), 'utf8')).not.toMatch(/:\/\/[^\s'"]*@/);
  });
});
