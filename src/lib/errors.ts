/**
 * The few failures the CLI distinguishes, each with its exit code, and the one way an
 * error becomes a line of text. Everything else is an internal error.
 */
import { redact } from './redact.js';

export const EXIT = Object.freeze({
  OK: 0,
  CONFIGS_FAILED: 1,
  USAGE: 2,
  UNREACHABLE: 3,
  INTERNAL: 70,
});

/** Bad flags, environment or arguments: nothing was attempted. */
export class UsageError extends Error {
  readonly exitCode = EXIT.USAGE;
  override readonly name: string = 'UsageError';
}

/** PostgreSQL or Redis did not answer at start: nothing was written. */
export class UnreachableError extends Error {
  readonly exitCode = EXIT.UNREACHABLE;
  override readonly name: string = 'UnreachableError';
}

/** Exit codes after a shutdown signal, as shells report them (128 + signal number). */
export const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/** A command stopped by SIGTERM or SIGINT before it finished. */
export class InterruptedError extends Error {
  readonly exitCode: number;
  override readonly name = 'InterruptedError';
  constructor(signal: string) {
    super(`stopped by ${signal} before it finished`);
    this.exitCode = SIGNAL_EXIT[signal] ?? EXIT.INTERNAL;
  }
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof UnreachableError || error instanceof InterruptedError) return error.exitCode;
  return EXIT.INTERNAL;
}

/**
 * An error as one line for logs, summaries, Rollbar and stderr: its message (or what it
 * was thrown as), first line only, every secret and URL password hidden.
 */
export function errorMessage(error: unknown, secrets: readonly string[] = []): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return redact(text, secrets).split('\n')[0] || 'unknown error';
}
