/**
 * Runs the built `stats-refresh` binary as a user would and captures what it prints.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RefreshSummary } from '../../src/run/results.js';

export const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stderr lines that are JSON log records. */
  readonly logs: Array<Record<string, unknown>>;
  /** stderr lines that are not JSON (one-line error messages). */
  readonly messages: string[];
}

export function runCli(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  return startCli(args, env).done;
}

/** The one JSON summary a run prints on stdout. */
export function summaryOf(run: { readonly stdout: string }): RefreshSummary {
  const lines = run.stdout.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one summary line on stdout, got ${lines.length}: ${run.stdout}`);
  return JSON.parse(lines[0]!);
}

export interface RunningCli {
  readonly child: ReturnType<typeof spawn>;
  /** The JSON log lines seen so far, complete lines only. */
  readonly logs: ReadonlyArray<Record<string, unknown>>;
  /** Resolves when a JSON log line with this `msg` appears on stderr. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly done: Promise<CliRun>;
}

/** A line of stderr as a JSON log record, or null for any other line (a one-line message). */
function logRecord(line: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(line) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** stderr's lines, split into JSON log records and the other lines. */
export function parseStderr(text: string): { logs: Array<Record<string, unknown>>; messages: string[] } {
  const logs: Array<Record<string, unknown>> = [];
  const messages: string[] = [];
  for (const line of text.split('\n').filter((candidate) => candidate.trim() !== '')) {
    const record = logRecord(line);
    if (record) logs.push(record);
    else messages.push(line);
  }
  return { logs, messages };
}

/** The run's end; a run still going after `hangMs` is killed and fails the test, naming `what` and its logs. */
export async function endedWithin(run: RunningCli, what: string, hangMs: number): Promise<CliRun> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`${what}: still running after ${hangMs} ms (a hang)\n${run.logs.map((log) => JSON.stringify(log)).join('\n')}`));
    }, hangMs);
  });
  try {
    return await Promise.race([run.done, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the binary in the background, for tests that act while it runs. */
export function startCli(args: readonly string[], env: Record<string, string | undefined> = {}): RunningCli {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', TZ: 'UTC', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  /** stderr after its last newline: a line split across chunks is read once whole. */
  let partial = '';
  const waiters: Array<{ msg: string; resolve: (log: Record<string, unknown>) => void }> = [];
  const logs: Array<Record<string, unknown>> = [];
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
    const lines = (partial + String(chunk)).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const log = logRecord(line);
      if (!log) continue;
      logs.push(log);
      for (const waiter of waiters.filter((item) => item.msg === log.msg)) waiter.resolve(log);
    }
  });
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ...parseStderr(stderr) }));
  });
  return {
    child,
    logs,
    done,
    waitForLog(msg, timeoutMs = 20_000) {
      const already = logs.find((log) => log.msg === msg);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${msg}" log within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
        waiters.push({
          msg,
          resolve: (log) => {
            clearTimeout(timer);
            resolve(log);
          },
        });
      });
    },
  };
}

/** `arg` as one word for /bin/sh. */
function shellWord(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export interface TerminalRun {
  readonly code: number | null;
  /** stdout and stderr as the terminal showed them (one stream, \r\n turned into \n). */
  readonly output: string;
}

/**
 * Runs the binary with stdin, stdout and stderr on a pseudo-terminal, as on-call at a
 * shell would (util-linux `script`); `onOutput` sees the output as it comes.
 */
export function startCliInTerminal(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  onOutput: (output: string) => void = () => {},
): { readonly child: ReturnType<typeof spawn>; readonly done: Promise<TerminalRun> } {
  const command = [process.execPath, CLI_PATH, ...args].map(shellWord).join(' ');
  // `exec` makes the binary the shell's own process: a signal to the pid written reaches it.
  const child = spawn('script', ['-qec', `exec ${command}`, '/dev/null'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', TZ: 'UTC', SHELL: '/bin/sh', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += String(chunk).replace(/\r\n/g, '\n');
    onOutput(output);
  });
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const done = new Promise<TerminalRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
  return { child, done };
}

/** Runs the binary on a pseudo-terminal to its end. */
export function runCliInTerminal(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<TerminalRun> {
  return startCliInTerminal(args, env).done;
}
