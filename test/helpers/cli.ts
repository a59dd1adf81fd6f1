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
export function summaryOf(run: CliRun): RefreshSummary {
  const lines = run.stdout.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one summary line on stdout, got ${lines.length}: ${run.stdout}`);
  return JSON.parse(lines[0]!);
}

export interface RunningCli {
  readonly child: ReturnType<typeof spawn>;
  /** Resolves when a JSON log line with this `msg` appears on stderr. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly done: Promise<CliRun>;
}

/** Starts the binary in the background, for tests that act while it runs. */
export function startCli(args: readonly string[], env: Record<string, string | undefined> = {}): RunningCli {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', TZ: 'UTC', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ msg: string; resolve: (log: Record<string, unknown>) => void }> = [];
  const seen: Array<Record<string, unknown>> = [];
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
    for (const line of String(chunk).split('\n')) {
      try {
        const log = JSON.parse(line) as Record<string, unknown>;
        seen.push(log);
        for (const waiter of waiters.filter((item) => item.msg === log.msg)) waiter.resolve(log);
      } catch {
        // not a log line
      }
    }
  });
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const lines = stderr.split('\n').filter((line) => line.trim() !== '');
      const logs: Array<Record<string, unknown>> = [];
      const messages: string[] = [];
      for (const line of lines) {
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          messages.push(line);
        }
      }
      resolve({ code, signal, stdout, stderr, logs, messages });
    });
  });
  return {
    child,
    done,
    waitForLog(msg, timeoutMs = 20_000) {
      const already = seen.find((log) => log.msg === msg);
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
