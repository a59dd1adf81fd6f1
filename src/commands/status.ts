/**
 * `stats-refresh status` (alias `cache info`): every key the batches and the learned
 * requests cover, present or missing, with TTL, size, last write and compute time; each
 * family's last run; the learned requests; and the other `stats_service:*` keys (the API's
 * own). Exit 1 when a covered key is missing.
 */
import type { Redis } from 'ioredis';
import { type FlagValues, loadConfig } from '../config.js';
import { scanKeys } from '../io/cache.js';
import { activeLearned, LEARNED_KEY, type LearnedRequest, type LearnOptions } from '../io/learned.js';
import { type FamilyRun, KEY_META, type KeyMeta, lastRunKey } from '../io/metadata.js';
import { EXIT } from '../lib/errors.js';
import { safeUrl } from '../lib/redact.js';
import { FAMILIES, type Family } from '../requests/batches.js';
import { coveredKeys } from '../requests/covered.js';
import { KEY_PREFIX } from '../requests/keys.js';
import { withRuntime } from '../run/runtime.js';

export interface CoveredKeyStatus {
  key: string;
  family: Family;
  /** A learned request's key rather than a batch's. */
  learned: boolean;
  present: boolean;
  ttl_seconds: number | null;
  size_bytes: number | null;
  written_at: string | null;
  compute_ms: number | null;
}

export interface CacheStatus {
  redis: string;
  covered: CoveredKeyStatus[];
  present: number;
  missing: number;
  families: Record<Family, FamilyRun | null>;
  /** The learned requests refreshed with their families now (see io/learned.ts). */
  learned: Array<Omit<LearnedRequest, 'config'>>;
  extra_keys: Array<{ key: string; ttl_seconds: number }>;
}

function parseJson<T>(text: string | null | undefined): T | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

/** The cache as `now` sees it; `learn` says which learned requests are still refreshed. */
export async function readStatus(redis: Redis, redisUrl: string, now: Date, learn: LearnOptions): Promise<CacheStatus> {
  const { active } = activeLearned(await redis.hgetall(LEARNED_KEY), FAMILIES, now, learn);
  const learnedKeys = new Set(active.map((request) => request.key));
  const covered = coveredKeys(new Map(active.map((request) => [request.key, request.family])));
  const pipeline = redis.pipeline();
  for (const key of covered.keys()) pipeline.ttl(key).strlen(key);
  pipeline.hgetall(KEY_META);
  for (const family of FAMILIES) pipeline.get(lastRunKey(family));
  const replies = ((await pipeline.exec()) ?? []).map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const meta = replies[covered.size * 2] as Record<string, string>;
  const runs = replies.slice(covered.size * 2 + 1) as Array<string | null>;

  const rows = [...covered].map(([key, family], index): CoveredKeyStatus => {
    const ttl = replies[index * 2] as number;
    const present = ttl !== -2;
    const written = parseJson<KeyMeta>(meta[key]);
    return {
      key,
      family,
      learned: learnedKeys.has(key),
      present,
      ttl_seconds: present ? ttl : null,
      size_bytes: present ? (replies[index * 2 + 1] as number) : null,
      written_at: written?.written_at ?? null,
      compute_ms: written?.compute_ms ?? null,
    };
  });
  const extras = (await scanKeys(redis, `${KEY_PREFIX}*`)).filter((key) => !covered.has(key)).sort();
  const ttlPipeline = redis.pipeline();
  for (const key of extras) ttlPipeline.ttl(key);
  const extraTtls = extras.length ? ((await ttlPipeline.exec()) ?? []).map(([, ttl]) => ttl as number) : [];
  return {
    redis: safeUrl(redisUrl),
    covered: rows,
    present: rows.filter((row) => row.present).length,
    missing: rows.filter((row) => !row.present).length,
    families: Object.fromEntries(FAMILIES.map((family, index) => [family, parseJson<FamilyRun>(runs[index])])) as Record<
      Family,
      FamilyRun | null
    >,
    learned: active.map(({ config: _config, ...request }) => request),
    extra_keys: extras.map((key, index) => ({ key, ttl_seconds: extraTtls[index] ?? -2 })),
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

/** The human view, for a terminal. */
export function formatStatus(status: CacheStatus): string {
  const keyRows = status.covered.map((row) => [
    row.present ? 'ok' : 'MISSING',
    row.learned ? `${row.family} (learned)` : row.family,
    row.ttl_seconds === null ? '-' : `${row.ttl_seconds}s`,
    row.size_bytes === null ? '-' : `${row.size_bytes}B`,
    row.written_at ?? '-',
    row.compute_ms === null ? '-' : `${row.compute_ms}ms`,
    row.key.slice(KEY_PREFIX.length),
  ]);
  const runRows = FAMILIES.map((family) => {
    const run = status.families[family];
    return run
      ? [family, run.started_at, `${run.duration_ms}ms`, String(run.successful), String(run.failed)]
      : [family, 'never', '-', '-', '-'];
  });
  return [
    `Redis ${status.redis}: ${status.present} of ${status.covered.length} covered keys present, ${status.missing} missing`,
    '',
    table([['STATE', 'FAMILY', 'TTL', 'SIZE', 'WRITTEN', 'COMPUTE', 'KEY (stats_service:…)'], ...keyRows]),
    '',
    table([['FAMILY', 'LAST RUN', 'DURATION', 'OK', 'FAILED'], ...runRows]),
    '',
    status.learned.length
      ? table([
          ['LEARNED', 'FIRST SEEN', 'LAST SEEN', 'LAPSES', 'KEY (stats_service:…)'],
          ...status.learned.map((request) => [request.family, request.first_seen, request.last_seen, request.lapses_at, request.key.slice(KEY_PREFIX.length)]),
        ])
      : 'No learned requests.',
    '',
    status.extra_keys.length
      ? `Other stats_service keys (written by the API itself): ${status.extra_keys.map((extra) => extra.key).join(', ')}`
      : 'No other stats_service keys.',
    '',
  ].join('\n');
}

export function statusCommand(flags: FlagValues & { json?: boolean }): Promise<number> {
  const config = loadConfig(flags, process.env);
  return withRuntime(config, { db: false, redis: true }, async (runtime) => {
    await runtime.checkReachable();
    const status = await readStatus(runtime.connections.redis!, config.redisUrl, config.now, {
      windowMs: config.learnWindowMs,
      max: config.learn ? config.learnMax : 0,
    });
    const json = flags.json === true || !process.stdout.isTTY;
    process.stdout.write(json ? `${JSON.stringify(status)}\n` : formatStatus(status));
    return status.missing > 0 ? EXIT.CONFIGS_FAILED : EXIT.OK;
  });
}
