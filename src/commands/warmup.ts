/**
 * `stats-refresh warmup`: for the API's init container and for on-call after a
 * restart. Waits (bounded) for PostgreSQL and Redis to answer, then refreshes all.
 */
import { type FlagValues, loadConfig } from '../config.js';
import { EXIT, UnreachableError } from '../lib/errors.js';
import { FAMILIES } from '../requests/batches.js';
import { withRuntime } from '../run/runtime.js';
import { waitForServices } from '../run/services.js';
import { resolveTargets } from '../run/targets.js';
import { batchFileOf, refreshWithin } from './refresh.js';

export function warmupCommand(flags: FlagValues & { bestEffort?: boolean }, signal: AbortSignal): Promise<number> {
  const config = loadConfig(flags, process.env);
  // The batch file is read before any wait: a bad one is exit 2 at once.
  const targets = resolveTargets(FAMILIES, batchFileOf(config));
  return withRuntime(config, { db: true, redis: !config.dryRun, graceful: true }, signal, async (runtime) => {
    try {
      await waitForServices(runtime, signal);
      const code = await refreshWithin(runtime, 'warmup', targets, signal);
      if (code !== EXIT.OK && flags.bestEffort && !signal.aborted) {
        runtime.logger.warn({ exit_code: code }, 'warmup incomplete; exiting 0 (--best-effort)');
        return EXIT.OK;
      }
      return code;
    } catch (error) {
      // An init container must not hold the API back because its cache could not be warmed.
      if (!flags.bestEffort || !(error instanceof UnreachableError)) throw error;
      runtime.logger.warn({ err: error }, 'warmup gave up; exiting 0 (--best-effort)');
      return EXIT.OK;
    }
  });
}
