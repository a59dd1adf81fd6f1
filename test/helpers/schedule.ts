/**
 * Running `stats-refresh schedule` in tests: start it with a metrics server on a free
 * port, read its /metrics and /healthz over HTTP, and wait for what it does.
 */
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
  const cli = startCli(['schedule', '--metrics-port', '0', '--metrics-host', '127.0.0.1', ...args], env);
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
    count: (msg, where = () => true) => cli.logs.filter((log) => log.msg === msg && where(log)).length,
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
