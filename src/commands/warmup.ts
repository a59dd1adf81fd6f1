/**
 * `stats-refresh warmup`: for the API's init container and for on-call after a
 * restart. Waits (bounded) for PostgreSQL and Redis to answer, then refreshes all.
 */
import { FAMILIES } from '../requests/batches.js';
import type { FlagValues } from '../config.js';
import { EXIT, UnreachableError } from '../errors.js';
import { redact } from '../lib/redact.js';
import { backoffDelay } from '../lib/retry.js';
import { refreshWithin, resolveTargets } from './refresh.js';
import type { Runtime } from './runtime.js';
import { withRuntime } from './runtime.js';

const WAIT_POLICY = { attempts: Number.POSITIVE_INFINITY, baseDelayMs: 500, maxDelayMs: 10_000 };

/** Retries the reachability check with backoff and jitter until it passes or time runs out. */
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
      logger.info({ attempt, retry_in_ms: delay, err: redact(error.message, runtime.secrets) }, 'waiting for services');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

export function warmupCommand(flags: FlagValues & { bestEffort?: boolean }, signal: AbortSignal): Promise<number> {
  return withRuntime(flags, { db: true, redis: flags.dryRun !== true }, async (runtime) => {
    try {
      await waitForServices(runtime, signal);
      const { batchFile, batchFileSource } = runtime.config;
      const targets = resolveTargets(FAMILIES, batchFile ? { path: batchFile, source: batchFileSource } : null);
      const code = await refreshWithin(runtime, 'warmup', targets, signal);
      if (code !== EXIT.OK && flags.bestEffort && !signal.aborted) {
        runtime.logger.warn({ exit_code: code }, 'warmup incomplete; exiting 0 (--best-effort)');
        return EXIT.OK;
      }
      return code;
    } catch (error) {
      // An init container must not hold the API back because its cache could not be warmed.
      if (!flags.bestEffort || !(error instanceof UnreachableError)) throw error;
      runtime.logger.warn({ err: redact(error.message, runtime.secrets) }, 'warmup gave up; exiting 0 (--best-effort)');
      return EXIT.OK;
    }
  });
}

