/**
 * The few failures the CLI distinguishes, each with its exit code. Everything else
 * is an internal error.
 */

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
  override readonly name = 'UnreachableError';
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof UnreachableError) return error.exitCode;
  return EXIT.INTERNAL;
}
