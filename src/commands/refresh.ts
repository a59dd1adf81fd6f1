/**
 * `stats-refresh refresh [target...]`: checks the targets and the batch file, runs them
 * (src/run/), prints the summary, pushes the run's metrics when a Pushgateway is set, and
 * chooses the exit code. Requests alone take no lock and push no metrics: they are not a
 * family's run.
 */
import { type Config, type FlagValues, loadConfig } from '../config.js';
import { formatFor } from '../io/log-format.js';
import { EXIT, SIGNAL_EXIT } from '../lib/errors.js';
import { safeUrl } from '../lib/redact.js';
import { runTargets } from '../run/family-run.js';
import { failuresOf, outcomesOf, type RefreshRun, summaryOf } from '../run/results.js';
import { type Runtime, withRuntime } from '../run/runtime.js';
import { type BatchFile, type RefreshTargets, resolveTargets } from '../run/targets.js';
import { formatRunSummary } from './summary-table.js';

/** The batch file the configuration names, if any. */
export function batchFileOf(config: Config): BatchFile | null {
  return config.batchFile ? { path: config.batchFile, source: config.batchFileSource } : null;
}

/** 130/143 when a signal cut the run short, 1 when a request failed, else 0. */
export function exitCodeOfRun(run: RefreshRun, signal: AbortSignal): number {
  if (signal.aborted) return SIGNAL_EXIT[String(signal.reason)] ?? EXIT.CONFIGS_FAILED;
  return failuresOf(run).length > 0 ? EXIT.CONFIGS_FAILED : EXIT.OK;
}

/** Pushes the run's metrics, one group per family run; a Pushgateway that fails is a warning only. */
async function pushRun(runtime: Runtime, url: string, run: RefreshRun): Promise<void> {
  const outcomes = outcomesOf(run, new Date());
  if (outcomes.length === 0) return;
  // prom-client loads only when there is somewhere to push to.
  const { pushOutcomes } = await import('../io/metrics.js');
  const errors = await pushOutcomes(url, outcomes);
  const where = safeUrl(url);
  for (const [family, error] of errors) {
    runtime.logger.warn({ pushgateway: where, family, err: error }, 'metrics not pushed; the run itself is unaffected');
  }
  if (errors.size === 0) runtime.logger.debug({ pushgateway: where, families: outcomes.map((outcome) => outcome.family) }, 'metrics pushed');
}

/**
 * Runs `targets` within an open runtime, prints the summary (a table on a terminal, one JSON
 * line elsewhere) and pushes metrics; returns the exit code.
 */
export async function refreshWithin(runtime: Runtime, command: string, targets: RefreshTargets, signal: AbortSignal): Promise<number> {
  const run = await runTargets(runtime, command, targets, signal, runtime.config.now, { keepUnchanged: true });
  const json = formatFor(runtime.config.logFormat, process.stdout) === 'json';
  process.stdout.write(json ? `${JSON.stringify(summaryOf(run))}\n` : formatRunSummary(run));
  const url = runtime.config.pushgatewayUrl;
  if (url && !runtime.config.dryRun) await pushRun(runtime, url, run);
  return exitCodeOfRun(run, signal);
}

export function refreshCommand(command: string, args: readonly string[], flags: FlagValues, signal: AbortSignal): Promise<number> {
  const config = loadConfig(flags, process.env);
  // Every target is checked before anything connects: a bad one is exit 2 with nothing attempted.
  const targets = resolveTargets(args, batchFileOf(config));
  return withRuntime(config, { db: true, redis: !config.dryRun, graceful: true }, signal, async (runtime) => {
    await runtime.checkReachable();
    return refreshWithin(runtime, command, targets, signal);
  });
}
