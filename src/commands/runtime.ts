/**
 * What every command needs, set up once: the frozen config, the logger, the failure
 * reporter and the connections; torn down last-in-first-out.
 */
import { type Config, type FlagValues, loadConfig, secretsOf } from '../config.js';
import { UsageError } from '../errors.js';
import { type Connections, checkReachable, openConnections } from '../io/connections.js';
import { type Logger, createLogger } from '../io/logger.js';
import { redact } from '../lib/redact.js';
import { type FailureReporter, createRollbarReporter, noReporter } from '../io/reporter.js';

export interface Runtime {
  readonly config: Config;
  readonly secrets: readonly string[];
  readonly logger: Logger;
  readonly reporter: FailureReporter;
  readonly connections: Connections;
  /** Exits with UnreachableError (exit 3) unless the services this command needs answer. */
  checkReachable(): Promise<void>;
  close(): Promise<void>;
}

export interface RuntimeNeeds {
  readonly db: boolean;
  readonly redis: boolean;
  /** schedule: connections that survive a Redis restart, and room for concurrent family runs. */
  readonly longRunning?: boolean;
  /** Defaults of this command that differ from the others'. */
  readonly configDefaults?: { readonly ttlSeconds?: number };
}

export async function openRuntime(flags: FlagValues, needs: RuntimeNeeds): Promise<Runtime> {
  const config = loadConfig(flags, process.env, undefined, needs.configDefaults);
  const secrets = secretsOf(config);
  const logger = createLogger(config.logLevel);
  const reporter = config.rollbarToken
    ? await createRollbarReporter({
        accessToken: config.rollbarToken,
        environment: config.environment,
        ...(config.rollbarEndpoint ? { endpoint: config.rollbarEndpoint } : {}),
        secrets,
        onFlushTimeout: () => logger.warn('rollbar: reports not confirmed within 10 s; exiting anyway'),
      })
    : noReporter;
  const connections = openConnections(config, {
    needRedis: needs.redis,
    longRunning: needs.longRunning === true,
    onRedisError: (error) => logger.debug({ err: redact(error.message, secrets) }, 'redis connection error'),
  });
  return {
    config,
    secrets,
    logger,
    reporter,
    connections,
    checkReachable: () => checkReachable(connections, config, secrets, { db: needs.db }),
    async close() {
      // Last in, first out: reports, then Redis, then PostgreSQL.
      await reporter.flush();
      await connections.close();
    },
  };
}

/** Runs `body` with a runtime and always closes it. */
export async function withRuntime<T>(
  flags: FlagValues,
  needs: RuntimeNeeds,
  body: (runtime: Runtime) => Promise<T>,
): Promise<T> {
  const runtime = await openRuntime(flags, needs);
  try {
    return await body(runtime);
  } catch (error) {
    // A usage error is its own one-line message; anything else is also logged.
    if (!(error instanceof UsageError)) {
      runtime.logger.error({ err: redact((error as Error).message, runtime.secrets).split('\n')[0] }, 'command aborted');
    }
    throw error;
  } finally {
    await runtime.close();
  }
}
