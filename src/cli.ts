#!/usr/bin/env node
/**
 * The `stats-refresh` command line: wires commander to the core and turns outcomes
 * into exit codes. No logic of its own.
 */
import { Command, CommanderError, Option } from 'commander';
import { FAMILIES, parseFamilies } from './batches.js';
import { loadConfig, secretsOf, type FlagValues } from './config.js';
import { checkReachable, openConnections } from './connections.js';
import { EXIT, UsageError, exitCodeOf } from './errors.js';
import { createLogger } from './logger.js';
import { redact } from './redact.js';
import { runRefresh } from './refresh.js';
import { createRollbarReporter, noReporter } from './reporter.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  every config computed and written
  1  some configs failed (the others were written; failed keys keep their previous value)
  2  bad usage or configuration (nothing attempted)
  3  PostgreSQL or Redis unreachable at start (nothing written)

Environment:
  DATABASE_URL, REDIS_URL, STATS_CACHE_TTL, LOG_LEVEL, STATS_REFRESH_CONCURRENCY,
  ROLLBAR_ACCESS_TOKEN (optional), ROLLBAR_ENVIRONMENT. Flags override the environment.`;

function addRunOptions(command: Command): Command {
  return command
    .option('--database-url <url>', 'PostgreSQL URL of the API database (env DATABASE_URL)')
    .option('--redis-url <url>', 'Redis URL of the API cache (env REDIS_URL)')
    .option('--ttl <seconds>', 'expiry of every written key (env STATS_CACHE_TTL, default 300)')
    .option('--concurrency <n>', 'queries run in parallel (env STATS_REFRESH_CONCURRENCY, default 3)')
    .option('--now <instant>', 'compute as of this ISO-8601 instant, e.g. 2026-06-15T12:34:56Z (default: now)')
    .option('--dry-run', 'compute and print the payloads as JSON; write nothing, no Redis needed')
    .addOption(
      new Option('--log-level <level>', 'log level on stderr (env LOG_LEVEL, default info)'),
    );
}

async function refresh(familyName: string, flags: FlagValues): Promise<number> {
  const families = parseFamilies(familyName);
  if (!families) {
    throw new UsageError(`unknown family ${JSON.stringify(familyName)}; expected one of ${[...FAMILIES, 'all'].join(', ')}`);
  }
  const config = loadConfig(flags, process.env);
  const secrets = secretsOf(config);
  const logger = createLogger(config.logLevel);
  const reporter = config.rollbarToken
    ? createRollbarReporter({
        accessToken: config.rollbarToken,
        environment: config.environment,
        ...(config.rollbarEndpoint ? { endpoint: config.rollbarEndpoint } : {}),
        secrets,
      })
    : noReporter;
  const connections = openConnections(config, {
    needRedis: !config.dryRun,
    onRedisError: (error) => logger.debug({ err: redact(error.message, secrets) }, 'redis connection error'),
  });
  try {
    await checkReachable(connections, config, secrets);
    const summary = await runRefresh(
      {
        command: `refresh ${familyName}`,
        families,
        now: config.now,
        ttlSeconds: config.ttlSeconds,
        concurrency: config.concurrency,
        dryRun: config.dryRun,
        secrets,
      },
      { db: connections.db, cache: connections.redis, logger, reporter },
    );
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return summary.failed > 0 ? EXIT.CONFIGS_FAILED : EXIT.OK;
  } catch (error) {
    logger.error({ err: redact((error as Error).message, secrets) }, 'refresh aborted');
    throw error;
  } finally {
    // Last in, first out: reports, then Redis, then PostgreSQL.
    await reporter.flush();
    await connections.close();
  }
}

/** Commander's messages (and its "Did you mean" hints) as our single error line. */
function oneLine(text: string): string {
  return `stats-refresh: ${text.replace(/^error: /, '').split('\n').map((line) => line.trim()).filter(Boolean).join(' ')}`;
}

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('stats-refresh')
    .description(
      "Keeps the Trends.Earth API's admin statistics cache warm: computes the /stats payloads on\n" +
        'PostgreSQL and writes them to the exact Redis keys the API reads.',
    )
    .version(process.env.npm_package_version ?? '0.1.0', '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${oneLine(text)}\n`) })
    .addHelpText('after', EXIT_CODES_HELP);

  addRunOptions(
    program
      .command('refresh')
      .argument('<family>', `what to refresh: ${[...FAMILIES, 'all'].join(', ')}`)
      .description('compute and write every config of a family (or all families)'),
  )
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (family: string, flags: FlagValues) => setExit(await refresh(family, flags)));

  for (const family of ['all', ...FAMILIES]) {
    addRunOptions(
      program.command(family).description(`shorthand for \`refresh ${family}\``),
    ).action(async (flags: FlagValues) => setExit(await refresh(family, flags)));
  }
  return program;
}

async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.OK;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const code = exitCodeOf(error);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`stats-refresh: ${redact(message).split('\n')[0]}\n`);
    return code;
  }
}

const code = await main(process.argv);
process.exitCode = code;
// A stuck socket must not keep a CronJob pod alive after the summary is out.
setTimeout(() => process.exit(code), 5_000).unref();
