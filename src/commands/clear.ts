/**
 * `stats-refresh clear [pattern]`: what the API's `DELETE /stats/cache?pattern=` does,
 * SCAN `stats_service:*<pattern>*` and delete in batches (never KEYS). `--learned` also
 * forgets the learned requests.
 */
import type { FlagValues } from '../config.js';
import { EXIT, UsageError } from '../errors.js';
import { KEY_PREFIX } from '../requests/keys.js';
import { LEARNED_KEY } from '../io/learned.js';
import { withRuntime } from './runtime.js';

/** The patterns the API's endpoint accepts. */
export const API_PATTERNS = ['summary', 'trends', 'geographic', 'tasks', 'executions', 'users', 'activity'] as const;

const BATCH = 500;

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
  flags: FlagValues & { anyPattern?: boolean; learned?: boolean },
): Promise<number> {
  const match = clearMatch(pattern, flags.anyPattern === true);
  return withRuntime({ ...flags, dryRun: false }, { db: false, redis: true }, async (runtime) => {
    await runtime.checkReachable();
    const redis = runtime.connections.redis!;
    const matched: string[] = [];
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', BATCH);
      cursor = next;
      matched.push(...keys);
      if (!flags.dryRun && keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
    // The learned list is kept unless asked for: clearing the cache does not mean admins stopped asking.
    const forgetLearned = flags.learned === true;
    const learnedForgotten = forgetLearned && !flags.dryRun ? (await redis.del(LEARNED_KEY)) > 0 : false;
    runtime.logger.info({ match, matched: matched.length, deleted, learned: forgetLearned, dry_run: flags.dryRun === true }, 'cache cleared');
    const summary = {
      command: 'clear',
      match,
      dry_run: flags.dryRun === true,
      matched: matched.length,
      deleted,
      ...(forgetLearned ? { learned_forgotten: learnedForgotten } : {}),
      ...(flags.dryRun ? { keys: matched.sort() } : {}),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return EXIT.OK;
  });
}
