/**
 * The container checks' access to the engine: scripts/podman (the project's podman set-up)
 * with a bound on every call, the image under test, and the production run settings read
 * from the Compose file, so the image is run as the deployment runs it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const PODMAN = join(PROJECT_ROOT, 'scripts/podman');
/** Built by `npm run image` (scripts/container-check.sh builds it first). */
export const IMAGE = process.env.STATS_REFRESH_TEST_IMAGE ?? 'localhost/stats-refresh:dev';
export const COMPOSE_FILE = join(PROJECT_ROOT, 'deploy/compose/docker-compose.stats-refresh.yml');

export interface Exec {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Runs a program to its end, killed (SIGKILL, whole process group) after `timeoutMs`; a
 * time-out is an error, so no wait is unbounded.
 */
export function exec(program: string, args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Exec> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      reject(new Error(`${program} ${args.join(' ')}: no end within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export function podman(args: readonly string[], timeoutMs = 60_000): Promise<Exec> {
  return exec(PODMAN, args, { timeoutMs });
}

/** podman that must succeed; its stdout. */
export async function podmanOk(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const result = await podman(args, timeoutMs);
  if (result.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

export async function inspect(what: 'container' | 'image', name: string): Promise<Record<string, any>> {
  const [object] = JSON.parse(await podmanOk([what, 'inspect', name])) as Array<Record<string, any>>;
  if (!object) throw new Error(`podman ${what} inspect ${name}: nothing`);
  return object;
}

type ComposeService = Record<string, any>;

/** The services of deploy/compose/docker-compose.stats-refresh.yml, as written. */
export function composeServices(): Record<string, ComposeService> {
  return (parse(readFileSync(COMPOSE_FILE, 'utf8')) as { services: Record<string, ComposeService> }).services;
}

/**
 * `podman run` flags for what the Compose service sets on the container: read-only root,
 * tmpfs, user, dropped capabilities, security options. Everything else (image, command,
 * env_file, networks, restart) is the caller's.
 */
export function productionFlags(service: ComposeService = composeServices()['stats-refresh']!): string[] {
  const flags: string[] = [];
  if (service.read_only === true) flags.push('--read-only');
  for (const mount of service.tmpfs ?? []) flags.push('--tmpfs', String(mount));
  if (service.user !== undefined) flags.push('--user', String(service.user));
  for (const capability of service.cap_drop ?? []) flags.push('--cap-drop', String(capability));
  for (const option of service.security_opt ?? []) flags.push('--security-opt', String(option).replace(/:true$/, ''));
  return flags;
}

/** Seconds of a Compose duration such as `30s` or `1m30s`. */
export function durationSeconds(text: string): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!match || text === '') throw new Error(`cannot read the duration ${text}`);
  return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
}

/** Polls `probe` every `everyMs` until it returns a value, for at most `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * A TCP relay to a service that listens on loopback only (the machine's PostgreSQL, a
 * private redis-server), for containers on a bridge network, which cannot reach the host's
 * loopback: they dial host.containers.internal (the bridge's gateway) on `port`. It listens
 * on every address, because the bridge's address exists only once its first container
 * starts, and it drops every connection that did not arrive on `acceptOn`'s address (set
 * once the network exists), so nothing else on the machine reaches the service through it.
 */
export async function startRelay(targetPort: number): Promise<{ port: number; acceptOn(address: string): void; close(): Promise<void> }> {
  let allowed: string | null = null;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const local = client.localAddress?.replace(/^::ffff:/, '');
    if (allowed === null || local !== allowed) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '0.0.0.0', resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    acceptOn(address) {
      allowed = address;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
