/**
 * What every command needs once its configuration is read: the logger, the failure
 * reporter and the connections, released last in first out.
 */
import type { Config } from '../config.js';
import { type Connections, checkReachable, openConnections } from '../io/connections.js';
import { formatFor } from '../io/log-format.js';
import { type Logger, createLogger } from '../io/logger.js';
import { type FailureReporter, createRollbarReporter, noReporter } from '../io/reporter.js';
import { InterruptedError, UsageError } from '../lib/errors.js';
import { Releasers } from '../lib/releasers.js';
import { secretsOf } from '../config.js';

/**
 * An open runtime. `N` is what the command asked for: `Runtime<{ db: true; redis: true }>`
 * has its Redis client for sure; a plain `Runtime` may have none (a dry run opens none).
 */
export interface Runtime<out N extends RuntimeNeeds = RuntimeNeeds> {
  readonly config: Config;
  readonly secrets: readonly string[];
  readonly logger: Logger;
  readonly reporter: FailureReporter;
  readonly connections: Connections<N['redis']>;
  /** Fails with UnreachableError (exit 3) unless the services this command needs answer. */
  checkReachable(): Promise<void>;
  close(): Promise<void>;
}

export interface RuntimeNeeds {
  readonly db: boolean;
  readonly redis: boolean;
  /** schedule: connections that survive a Redis restart, and room for concurrent family runs. */
  readonly longRunning?: boolean;
  /**
   * Work that finishes gracefully on SIGTERM/SIGINT (refresh, warmup, schedule): the
   * connections are cut `--grace-period` plus STOP_SLACK_MS after the signal. Otherwise
   * (status, clear: nothing worth finishing) at once.
   */
  readonly graceful?: boolean;
}

/** After the grace period, what finished is written and the locks released within this. */
export const STOP_SLACK_MS = 5_000;

/** Cuts the connections once the signal's grace is over: no wait outlives it. */
function cutAfterSignal(signal: AbortSignal, afterMs: number, cut: () => void, logger: Logger): () => void {
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    timer = setTimeout(() => {
      logger.warn({ after_ms: afterMs }, 'shutdown: grace period over, connections closed');
      cut();
    }, afterMs);
    timer.unref();
  };
  if (signal.aborted) start();
  else signal.addEventListener('abort', start, { once: true });
  return () => {
    signal.removeEventListener('abort', start);
    clearTimeout(timer);
  };
}

/** A runtime whose Redis client is there for sure: the commands and the scheduler that cannot work without it. */
export type RedisRuntime = Runtime<{ readonly db: boolean; readonly redis: true }>;

export async function openRuntime<const N extends RuntimeNeeds>(config: Config, needs: N, signal?: AbortSignal): Promise<Runtime<N>> {
  const secrets = secretsOf(config);
  const logger = createLogger(config.logLevel, secrets, formatFor(config.logFormat, process.stderr));
  const releasers = new Releasers();
  const reporter = config.rollbarToken
    ? await createRollbarReporter({
        accessToken: config.rollbarToken,
        environment: config.environment,
        ...(config.rollbarEndpoint ? { endpoint: config.rollbarEndpoint } : {}),
        secrets,
        onFlushTimeout: () => logger.warn('rollbar: reports not confirmed within 10 s; exiting anyway'),
      })
    : noReporter;
  releasers.push('rollbar', () => reporter.flush());
  const connections = openConnections(config, {
    needRedis: needs.redis,
    longRunning: needs.longRunning === true,
    onRedisError: (error) => logger.debug({ err: error }, 'redis connection error'),
  });
  if (signal) {
    // Registered before the connections, so it can still cut them while they close.
    const afterMs = needs.graceful ? config.gracePeriodMs + STOP_SLACK_MS : 0;
    releasers.push('shutdown timer', cutAfterSignal(signal, afterMs, () => connections.cut(), logger));
  }
  releasers.push('connections', () => connections.close());
  return {
    config,
    secrets,
    logger,
    reporter,
    connections,
    checkReachable: () => checkReachable(connections, config, secrets, { db: needs.db }),
    close: () => releasers.releaseAll((name, error) => logger.warn({ resource: name, err: error }, 'not released cleanly')),
  };
}

/**
 * Runs `body` with a runtime and always closes it. A failure after SIGTERM/SIGINT (a
 * connection cut at the end of the grace period) is the signal's exit, not an error.
 */
export async function withRuntime<const N extends RuntimeNeeds, T>(
  config: Config,
  needs: N,
  signal: AbortSignal,
  body: (runtime: Runtime<N>) => Promise<T>,
): Promise<T> {
  const runtime = await openRuntime(config, needs, signal);
  try {
    return await body(runtime);
  } catch (error) {
    if (signal.aborted && !(error instanceof UsageError)) {
      runtime.logger.warn({ err: error }, `stopped by ${String(signal.reason)}`);
      throw new InterruptedError(String(signal.reason));
    }
    // A usage error is its own one-line message; anything else is also logged.
    if (!(error instanceof UsageError)) runtime.logger.error({ err: error }, 'command aborted');
    throw error;
  } finally {
    await runtime.close();
  }
}
