/**
 * Running `stats-refresh schedule` in tests: start it with a metrics server on a free
 * port, read its /metrics and /healthz over HTTP, and wait for what it does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { type RunningCli, startCli } from './cli.js';

export interface RunningSchedule extends RunningCli {
  /** The port of /metrics and /healthz. */
  readonly port: number;
  metrics(): Promise<string>;
  health(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** How many JSON log lines so far have this `msg` (and match `where`). */
  count(msg: string, where?: (log: Record<string, unknown>) => boolean): number;
  stop(): Promise<void>;
}

/** Starts `schedule` with --metrics-port 0 on 127.0.0.1, and resolves once it logged `schedule started`. */
export async function startSchedule(args: readonly string[], env: Record<string, string>): Promise<RunningSchedule> {
  const logs: Array<Record<string, unknown>> = [];
  const cli = startCli(['schedule', '--metrics-port', '0', '--metrics-host', '127.0.0.1', ...args], env);
  cli.child.stderr!.on('data', (chunk) => {
    for (const line of String(chunk).split('\n')) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line (or a partial one: the counts are lower bounds)
      }
    }
  });
  const started = await cli.waitForLog('schedule started', 30_000);
  const port = (started.metrics as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    ...cli,
    port,
    metrics: () => fetch(`${base}/metrics`).then((response) => response.text()),
    health: async () => {
      const response = await fetch(`${base}/healthz`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    count: (msg, where = () => true) => logs.filter((log) => log.msg === msg && where(log)).length,
    async stop() {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
      await cli.done;
    },
  };
}

/** One sample's value from Prometheus text, or undefined. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const own = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((label) => [label[1], label[2]]));
    if (Object.entries(labels).every(([key, value]) => own[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/** Polls `probe` until it returns true; fails with `what` after `timeoutMs`. */
export async function eventually(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A redis-server on a fixed port, which a test can kill and start again (empty). */
export function redisServerOn(port: number): { start(): Promise<void>; kill(): Promise<void> } {
  let server: ChildProcess | null = null;
  return {
    async start() {
      server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const { Redis } = await import('ioredis');
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => undefined);
      await eventually(`redis-server on ${port}`, () =>
        probe.connect().then(
          () => true,
          () => false,
        ),
      );
      probe.disconnect();
    },
    kill: () =>
      new Promise<void>((resolve) => {
        if (!server || server.exitCode !== null || server.signalCode !== null) return resolve();
        server.once('exit', () => resolve());
        server.kill('SIGKILL');
      }),
  };
}
