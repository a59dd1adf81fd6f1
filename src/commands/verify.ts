/**
 * `stats-refresh verify [target...]`: compares the keys the API wrote itself, present now,
 * with what stats-refresh computes for the same requests at the instants the API computed
 * them; prints, per endpoint, agree, drift (with the differing paths) or not comparable.
 * Read-only. Exit 0 no drift, 1 drift, 2 usage, 3 unreachable.
 */
import { type FlagValues, loadConfig } from '../config.js';
import { formatFor } from '../io/log-format.js';
import { EXIT } from '../lib/errors.js';
import { withRuntime } from '../run/runtime.js';
import { resolveTargets } from '../run/targets.js';
import { type VerifyReport, verify } from '../run/verification.js';

/** The human view, for a terminal. */
export function formatVerify(report: VerifyReport): string {
  const lines = [`Compared as of ${report.now}:`];
  for (const endpoint of report.endpoints) {
    const counts = `${endpoint.api_keys} key(s) the API wrote, ${endpoint.compared} compared, ${endpoint.values_compared} with values`;
    lines.push('', `${endpoint.endpoint}: ${endpoint.verdict.toUpperCase()} (${counts})`);
    for (const difference of endpoint.differences.slice(0, 10)) {
      lines.push(`  ${difference.kind} ${difference.path}: ${difference.detail}  [${difference.key}]`);
    }
    for (const note of endpoint.notes) lines.push(`  note: ${note}`);
    if (endpoint.recorded) lines.push(`  drift recorded by a run since ${endpoint.recorded.detected_at} (${endpoint.recorded.build}); clear --drift forgets it`);
  }
  if (report.problems.length > 0) lines.push('', ...report.problems.map((problem) => `PROBLEM: ${problem}`));
  return `${lines.join('\n')}\n`;
}

export function verifyCommand(args: readonly string[], flags: FlagValues & { json?: boolean }, signal: AbortSignal): Promise<number> {
  const config = loadConfig(flags, process.env);
  const targets = args.length > 0 ? resolveTargets(args, null) : null;
  return withRuntime(config, { db: true, redis: true }, signal, async (runtime) => {
    await runtime.checkReachable();
    const report = await verify(runtime, targets, config.now);
    const json = formatFor(config.logFormat, process.stdout) === 'json';
    process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatVerify(report));
    return report.endpoints.some((endpoint) => endpoint.verdict === 'drift') ? EXIT.CONFIGS_FAILED : EXIT.OK;
  });
}
