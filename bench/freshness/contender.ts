/**
 * The contenders of the freshness harness: which `schedule` runs, and running one.
 */
import { startCli, type RunningCli } from '../../test/helpers/cli.js';

/** A way to run `schedule`: its extra arguments and environment. Adding a contender is one line here. */
export interface Contender {
  readonly name: string;
  /** Arguments after `schedule` (the harness adds the metrics port and host). */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export const CONTENDERS: readonly Contender[] = [
  // The clock: each family on its default cron expression (the behaviour before issue 23).
  { name: 'cron', argv: ['--mode', 'cron'], env: {} },
  // The default: a change probe every second, the rows in memory read only where they changed.
  { name: 'change', argv: [], env: {} },
];

/** A `schedule` that answered: its metrics port and cron expressions (when it logged them). */
export interface RunningContender {
  readonly cli: RunningCli;
  readonly metricsPort: number;
  readonly schedules: Readonly<Record<string, string>> | null;
  /** Prometheus text of its /metrics. */
  metrics(): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs: number): Promise<number | null>;
}

/**
 * Starts `schedule` for a contender; resolves when it logged `schedule started`, or with the
 * line it printed when it exited first (a flag it rejects: exit 2).
 */
export async function startContender(
  contender: Contender,
  env: Readonly<Record<string, string>>,
  timeoutMs = 60_000,
): Promise<RunningContender | { rejected: string }> {
  const cli = startCli(['schedule', ...contender.argv, '--metrics-port', '0', '--metrics-host', '127.0.0.1'], { ...env, ...contender.env });
  const exited = cli.done.then((run): { rejected: string } => ({ rejected: `exit ${run.code ?? run.signal}: ${run.messages[0] ?? run.stderr.trim().split('\n')[0] ?? ''}` }));
  const startedLog = cli.waitForLog('schedule started', timeoutMs);
  startedLog.catch(() => undefined); // when it exited first, the wait's timeout must not surface later
  const started: Record<string, unknown> = await Promise.race([startedLog, exited]);
  if (typeof started.rejected === 'string') return { rejected: started.rejected };
  const metricsPort = (started.metrics as { port: number }).port;
  return {
    cli,
    metricsPort,
    schedules: (started.schedules as Record<string, string> | undefined) ?? null,
    metrics: () => fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) }).then((response) => response.text()),
    async stop(graceMs) {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGTERM');
      const timer = setTimeout(() => cli.child.kill('SIGKILL'), graceMs);
      const run = await cli.done;
      clearTimeout(timer);
      return run.code;
    },
  };
}

/** Every sample of `name` in Prometheus text, by its label set (`family=dashboard,result=ok`). */
export function samplesOf(text: string, name: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((label) => `${label[1]}=${label[2]}`).join(',');
    samples.set(labels, Number(match[3]));
  }
  return samples;
}

/** How much each sample grew between two readings (samples new in `after` count from 0). */
export function increases(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...after].map(([labels, value]) => [labels, value - (before.get(labels) ?? 0)]));
}
