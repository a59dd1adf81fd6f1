/**
 * `stats-refresh status` (alias `cache info`): every key the batches and the learned
 * requests cover, present or missing, with TTL, size, last write and compute time; each
 * family's last run; the learned requests; and the other `stats_service:*` keys (the API's
 * own), and the endpoints found to differ from the API. Exit 1 when a covered key is missing
 * or drift is recorded.
 */
import type { Redis } from 'ioredis';
import { type FlagValues, loadConfig } from '../config.js';
import { redisFailure, scanKeys } from '../io/cache.js';
import { activeLearned, LEARNED_KEY, type LearnedRequest, type LearnOptions } from '../io/learned.js';
import { type FamilyRun, KEY_META, lastRunKey, parseFamilyRun, parseKeyMeta } from '../io/metadata.js';
import { DRIFT_KEY, type DriftRecord } from '../io/drift-store.js';
import { DATA_STATE_KEY, type DataState, readDataStates } from '../io/data-state.js';
import { lockKey } from '../io/lock.js';
import { formatFor } from '../io/log-format.js';
import { EXIT, errorMessage } from '../lib/errors.js';
import { safeUrl } from '../lib/redact.js';
import { textTable } from '../lib/text-table.js';
import { FAMILIES, type Family } from '../requests/batches.js';
import { coveredKeys } from '../requests/covered.js';
import { KEY_PREFIX } from '../requests/keys.js';
import { readDriftStatus } from '../run/drift-check.js';
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
  /** The instant its value was computed for (null: not recorded). */
  as_of: string | null;
}

export interface LockStatus {
  /** Held by a run now. */
  held: boolean;
  /** Milliseconds until it lapses; null when free, or when it has no expiry (a problem). */
  ttl_ms: number | null;
}

export interface CacheStatus {
  redis: string;
  covered: CoveredKeyStatus[];
  present: number;
  missing: number;
  families: Record<Family, FamilyRun | null>;
  /** When a change in the data was last seen (a run's probe first saw its fingerprint); null: never probed. */
  last_change_seen: string | null;
  /** Each family's stored data state: its keys' instant (`now`) and how long they stay exact (`valid_until`). */
  data_states: Record<Family, DataState | null>;
  /** Each family's lock: a run holds it now, or it is free. */
  locks: Record<Family, LockStatus>;
  /** The learned requests refreshed with their families now (see io/learned.ts). */
  learned: Array<Omit<LearnedRequest, 'config'>>;
  extra_keys: Array<{ key: string; ttl_seconds: number }>;
  /** Endpoints found to differ from the API (docs/drift.md), with what showed it. */
  drift: DriftRecord[];
  /** What in Redis is not as stats-refresh left it, each with what to do. */
  problems: string[];
}

/** The reply of a pipelined command, or its error in the operator's words (naming `key`). */
function replyOf(reply: [Error | null, unknown] | undefined, key: string): { value: unknown } | { problem: string } {
  const [error, value] = reply ?? [new Error('no reply from Redis'), null];
  return error ? { problem: errorMessage(redisFailure(error, key)) } : { value };
}

/** The cache as `now` sees it; `learn` says which learned requests are still refreshed. */
export async function readStatus(redis: Redis, redisUrl: string, now: Date, learn: LearnOptions): Promise<CacheStatus> {
  const problems: string[] = [];
  const hash = async (key: string): Promise<Record<string, string>> => {
    try {
      return await redis.hgetall(key);
    } catch (error) {
      if (!/^WRONGTYPE/.test((error as Error).message)) throw redisFailure(error);
      problems.push(errorMessage(redisFailure(error, key)));
      return {};
    }
  };
  const { active } = activeLearned(await hash(LEARNED_KEY), FAMILIES, now, learn);
  const learnedKeys = new Set(active.map((request) => request.key));
  const covered = coveredKeys(new Map(active.map((request) => [request.key, request.family])));
  const meta = await hash(KEY_META);
  const pipeline = redis.pipeline();
  for (const key of covered.keys()) pipeline.ttl(key).strlen(key);
  for (const family of FAMILIES) pipeline.get(lastRunKey(family)).pttl(lockKey(family));
  const replies =
    (await pipeline.exec().catch((error: unknown) => {
      throw redisFailure(error);
    })) ?? [];

  const rows = [...covered].map(([key, family], index): CoveredKeyStatus => {
    const ttl = replyOf(replies[index * 2], key);
    const size = replyOf(replies[index * 2 + 1], key);
    // A key the API cannot read as a payload is as good as missing.
    const problem = 'problem' in ttl ? ttl.problem : 'problem' in size ? size.problem : null;
    if (problem) problems.push(problem);
    const present = problem === null && 'value' in ttl && ttl.value !== -2;
    const written = parseKeyMeta(meta[key]);
    return {
      key,
      family,
      learned: learnedKeys.has(key),
      present,
      ttl_seconds: present && 'value' in ttl ? (ttl.value as number) : null,
      size_bytes: present && 'value' in size ? (size.value as number) : null,
      written_at: written?.written_at ?? null,
      compute_ms: written?.compute_ms ?? null,
      as_of: written?.as_of ?? null,
    };
  });
  const records = await readDriftStatus(redis, now, new Set(covered.keys())).then(
    (drift) => {
      problems.push(...drift.problems);
      return drift.records;
    },
    (error: unknown) => {
      problems.push(errorMessage(redisFailure(error, DRIFT_KEY)));
      return new Map<Family, DriftRecord>();
    },
  );
  const dataStates = await readDataStates(redis).catch((error: unknown) => {
    problems.push(errorMessage(redisFailure(error, DATA_STATE_KEY)));
    return Object.fromEntries(FAMILIES.map((family) => [family, null])) as Record<Family, DataState | null>;
  });
  const changes = FAMILIES.flatMap((family) => dataStates[family]?.fingerprint_at ?? []).sort();
  const base = covered.size * 2;
  const families = {} as Record<Family, FamilyRun | null>;
  const locks = {} as Record<Family, LockStatus>;
  FAMILIES.forEach((family, index) => {
    const run = replyOf(replies[base + 2 * index], lastRunKey(family));
    families[family] = 'value' in run ? parseFamilyRun(run.value as string | null) : null;
    if ('problem' in run) problems.push(run.problem);
    else if (run.value !== null && families[family] === null) {
      problems.push(`${lastRunKey(family)} does not hold a run record; it is ignored, and the next run of ${family} writes it again`);
    }
    const lock = replyOf(replies[base + 2 * index + 1], lockKey(family));
    const ttl = 'value' in lock ? (lock.value as number) : -2;
    locks[family] = { held: ttl !== -2, ttl_ms: ttl >= 0 ? ttl : null };
    if (ttl === -1) problems.push(`${lockKey(family)} has no expiry, so it would never lapse; the next run of ${family} gives it one`);
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
    families,
    last_change_seen: changes.at(-1) ?? null,
    data_states: dataStates,
    locks,
    learned: active.map(({ config: _config, ...request }) => request),
    extra_keys: extras.map((key, index) => ({ key, ttl_seconds: extraTtls[index] ?? -2 })),
    drift: [...records.values()],
    problems,
  };
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
    const { held, ttl_ms } = status.locks[family];
    const lock = held ? `held${ttl_ms === null ? ', no expiry' : `, ${Math.ceil(ttl_ms / 1000)}s left`}` : 'free';
    const state = status.data_states[family];
    const instant = state ? [state.now, state.valid_until ?? 'no time bound'] : ['-', '-'];
    return run
      ? [family, run.started_at, `${run.duration_ms}ms`, String(run.successful), String(run.failed), lock, ...instant]
      : [family, 'never', '-', '-', '-', lock, ...instant];
  });
  return [
    `Redis ${status.redis}: ${status.present} of ${status.covered.length} covered keys present, ${status.missing} missing`,
    '',
    textTable([['STATE', 'FAMILY', 'TTL', 'SIZE', 'WRITTEN', 'COMPUTE', 'KEY (stats_service:…)'], ...keyRows]),
    '',
    textTable([['FAMILY', 'LAST RUN', 'DURATION', 'OK', 'FAILED', 'LOCK', 'INSTANT', 'VALID UNTIL'], ...runRows]),
    status.last_change_seen ? `Last change in the data seen at ${status.last_change_seen}.` : 'No change in the data seen yet (no run has probed it).',
    '',
    status.learned.length
      ? textTable([
          ['LEARNED', 'FIRST SEEN', 'LAST SEEN', 'LAPSES', 'KEY (stats_service:…)'],
          ...status.learned.map((request) => [request.family, request.first_seen, request.last_seen, request.lapses_at, request.key.slice(KEY_PREFIX.length)]),
        ])
      : 'No learned requests.',
    '',
    status.extra_keys.length
      ? `Other stats_service keys (written by the API itself): ${status.extra_keys.map((extra) => extra.key).join(', ')}`
      : 'No other stats_service keys.',
    '',
    status.drift.length
      ? textTable([
          ['DRIFT', 'SINCE', 'BUILD', 'FIRST DIFFERENCES'],
          ...status.drift.map((record) => [
            record.endpoint,
            record.detected_at,
            record.build,
            record.differences.map((difference) => `${difference.path} (${difference.kind})`).join('; '),
          ]),
        ])
      : "No drift: the API's answers checked agree with ours.",
    '',
    ...status.problems.map((problem) => `PROBLEM: ${problem}`),
    ...(status.problems.length ? [''] : []),
  ].join('\n');
}

export function statusCommand(flags: FlagValues & { json?: boolean }, signal: AbortSignal): Promise<number> {
  const config = loadConfig(flags, process.env);
  return withRuntime(config, { db: false, redis: true }, signal, async (runtime) => {
    await runtime.checkReachable();
    const status = await readStatus(runtime.connections.redis!, config.redisUrl, config.now, {
      windowMs: config.learnWindowMs,
      max: config.learn ? config.learnMax : 0,
    });
    const json = formatFor(config.logFormat, process.stdout) === 'json';
    process.stdout.write(json ? `${JSON.stringify(status)}\n` : formatStatus(status));
    return status.missing > 0 || status.drift.length > 0 ? EXIT.CONFIGS_FAILED : EXIT.OK;
  });
}
