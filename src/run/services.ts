/** Waiting for PostgreSQL and Redis at start, for warmup and schedule. */
import { sleep } from '../lib/async.js';
import { UnreachableError } from '../lib/errors.js';
import { backoffDelay } from '../lib/retry.js';
import type { Runtime } from './runtime.js';

const WAIT_POLICY = { attempts: Number.POSITIVE_INFINITY, baseDelayMs: 500, maxDelayMs: 10_000 };

/**
 * Retries the reachability check with backoff and jitter until it passes, `--wait-timeout`
 * runs out (UnreachableError) or `signal` aborts (UnreachableError too, at once).
 */
export async function waitForServices(runtime: Runtime, signal: AbortSignal): Promise<void> {
  const { logger, config } = runtime;
  const deadline = Date.now() + config.waitTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await runtime.checkReachable();
      logger.info({ attempt }, 'services ready');
      return;
    } catch (error) {
      if (!(error instanceof UnreachableError)) throw error;
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) {
        throw new UnreachableError(`gave up after ${attempt} attempts in ${config.waitTimeoutMs / 1000} s: ${error.message}`);
      }
      const delay = Math.min(left, backoffDelay(attempt, WAIT_POLICY));
      logger.info({ attempt, retry_in_ms: delay, err: error }, 'waiting for services');
      await sleep(delay, signal);
    }
  }
}
