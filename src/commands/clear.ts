/**
 * `stats-refresh clear [pattern]`: what the API's `DELETE /stats/cache?pattern=` does,
 * SCAN `stats_service:*<pattern>*` and delete in batches (never KEYS). `--learned` also
 * forgets the learned requests; `--drift` forgets the drift recorded (docs/drift.md), and deletes
 * keys only when a pattern is given too.
 */
import { type FlagValues, loadConfig } from '../config.js';
import { scanBatches } from '../io/redis-client.js';
import { forgetDrift } from '../io/drift-store.js';
import { LEARNED_KEY } from '../io/learned.js';
import { EXIT, UsageError } from '../lib/errors.js';
import { KEY_PREFIX } from '../requests/keys.js';
import { withRuntime } from '../run/runtime.js';

/** The patterns the API's endpoint accepts. */
export const API_PATTERNS = ['summary', 'trends', 'geographic', 'tasks', 'executions', 'users', 'activity'] as const;

export function clearMatch(pattern: string | undefined, anyPattern: boolean): string {
  if (pattern === undefined || pattern === '') return `${KEY_PREFIX}*`;
  if (!anyPattern && !(API_PATTERNS as readonly string[]).includes(pattern)) {
    throw new UsageError(
      `pattern ${JSON.stringify(pattern)} is not one the API accepts (${API_PATTERNS.join(', ')}); pass --any-pattern to use it anyway`,
    );
  }
  return `${KEY_PREFIX}*${pattern}*`;
}

export function clearCommand(
  pattern: string | undefined,
  flags: FlagValues & { anyPattern?: boolean; learned?: boolean; drift?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const match = clearMatch(pattern, flags.anyPattern === true);
  const config = loadConfig({ ...flags, dryRun: false }, process.env);
  // `clear --drift` is about the drift record: it deletes keys only when a pattern says which.
  const deleteKeys = flags.drift !== true || pattern !== undefined;
  return withRuntime(config, { db: false, redis: true }, signal, async (runtime) => {
    await runtime.checkReachable();
    const redis = runtime.connections.redis;
    const matched: string[] = [];
    let deleted = 0;
    for await (const keys of deleteKeys ? scanBatches(redis, match) : []) {
      matched.push(...keys);
      if (!flags.dryRun) deleted += await redis.del(...keys);
    }
    const drift = flags.drift === true ? await forgetDrift(redis, flags.dryRun === true) : null;
    // The learned list is kept unless asked for: clearing the cache does not mean admins stopped asking.
    const forgetLearned = flags.learned === true;
    const learnedForgotten = forgetLearned && !flags.dryRun ? (await redis.del(LEARNED_KEY)) > 0 : false;
    runtime.logger.info(
      { match, matched: matched.length, deleted, learned: forgetLearned, drift: drift?.endpoints ?? [], dry_run: flags.dryRun === true },
      'cache cleared',
    );
    const summary = {
      command: 'clear',
      match,
      dry_run: flags.dryRun === true,
      matched: matched.length,
      deleted,
      ...(forgetLearned ? { learned_forgotten: learnedForgotten } : {}),
      ...(drift ? { drift_forgotten: drift.endpoints, drift_pending_forgotten: drift.pending, drift_problems_removed: drift.problems } : {}),
      ...(flags.dryRun ? { keys: matched.sort() } : {}),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return EXIT.OK;
  });
}
