/**
 * Retrying only what is known to be transient: lost or refused connections,
 * serialization failures, deadlocks and a restarting server. Everything else (a
 * missing column, a statement timeout) fails at once.
 */
import { sleep } from './async.js';

/** PostgreSQL SQLSTATEs worth a retry. */
export const TRANSIENT_SQLSTATES: ReadonlySet<string> = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now (starting up or shutting down)
  '08000', // connection_exception
  '08003', // connection_does_not_exist
  '08006', // connection_failure
]);

const TRANSIENT_SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

// Errors without a code: node-postgres on a dropped socket, ioredis while reconnecting.
const TRANSIENT_MESSAGES = [
  /Connection terminated unexpectedly/i,
  /Connection terminated due to connection timeout/i,
  /is not queryable/i,
  /timeout exceeded when trying to connect/i,
  /Connection is closed/i,
  /Stream isn't writeable/i,
  /Reached the max retries per request limit/i,
];

/** Whether an error (or its cause) is a known-transient failure. */
export function isTransient(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SOCKET_CODES.has(code))) return true;
    if (typeof message === 'string' && TRANSIENT_MESSAGES.some((pattern) => pattern.test(message))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ attempts: 3, baseDelayMs: 250, maxDelayMs: 4_000 });

/** Exponential backoff with jitter: a random delay between half and all of base·2^(attempt-1), capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}


/** Runs `task`, retrying transient failures per `policy`; `onRetry` hears each retry. */
export async function withRetry<T>(
  task: () => Promise<T>,
  policy: RetryPolicy,
  onRetry: (attempt: number, delayMs: number, error: unknown) => void = () => undefined,
  canRetry: () => boolean = () => true,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (error) {
      if (attempt >= policy.attempts || !isTransient(error) || !canRetry()) throw error;
      const delay = backoffDelay(attempt, policy);
      onRetry(attempt, delay, error);
      await sleep(delay);
    }
  }
}
