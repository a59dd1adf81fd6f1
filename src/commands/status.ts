/**
 * `stats-refresh status` (alias `cache info`): prints what src/run/status-report.ts reads
 * (every covered key present or missing, each family's last run, data state and lock, the
 * learned requests, the API's own keys, the drift recorded, the problems), a table on a
 * terminal and JSON when piped. Exit 1 when a covered key is missing or drift is recorded.
 */
import { type FlagValues, loadConfig } from '../config.js';
import { formatFor } from '../io/log-format.js';
import { EXIT } from '../lib/errors.js';
import { textTable } from '../lib/text-table.js';
import { FAMILIES } from '../requests/batches.js';
import { KEY_PREFIX } from '../requests/keys.js';
import { withRuntime } from '../run/runtime.js';
import { type CacheStatus, readStatus } from '../run/status-report.js';

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
    const status = await readStatus(runtime.connections.redis, config.redisUrl, config.now, {
      windowMs: config.learnWindowMs,
      max: config.learn ? config.learnMax : 0,
    });
    const json = formatFor(config.logFormat, process.stdout) === 'json';
    process.stdout.write(json ? `${JSON.stringify(status)}\n` : formatStatus(status));
    return status.missing > 0 || status.drift.length > 0 ? EXIT.CONFIGS_FAILED : EXIT.OK;
  });
}
