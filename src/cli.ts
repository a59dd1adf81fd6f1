#!/usr/bin/env node
/**
 * The `stats-refresh` command line: wires commander to the commands and turns
 * outcomes into exit codes. No logic of its own.
 */
import { format } from 'node:util';
import { Command, CommanderError } from 'commander';
import { FAMILIES } from './requests/batches.js';
import { DEFAULTS, SCHEDULE_DEFAULTS, type FlagValues, type ScheduleFlagValues, logFormatOf } from './config.js';
import { formatFor, formatRecord, type LogFormat } from './io/log-format.js';
import { EXIT, SIGNAL_EXIT, errorMessage, exitCodeOf } from './lib/errors.js';
import { API_COMMIT, API_COMMIT_DATE, VERSION } from './lib/version.js';

const FOOTER = `
Exit codes:
  0  done (for refresh: every config written, or the family skipped because another run holds it)
  1  some configs failed (the others were written; failed keys keep their previous value), also
     when PostgreSQL or Redis was lost, went silent or refused writes mid-run;
     for status: a covered key is missing
  2  bad usage or configuration (nothing attempted)
  3  PostgreSQL or Redis unreachable or not answering (nothing written); for warmup and
     schedule: gave up waiting
  70  internal error (one line on stderr)
  130, 143  stopped by SIGINT or SIGTERM (finished configs written, the summary printed);
     connections are cut --grace-period + 5 s after the signal (status, clear: at once);
     schedule exits 0 once the runs in flight have finished; SIGHUP is ignored

Environment: DATABASE_URL, REDIS_URL, REDIS_TLS_CA_FILE, STATS_CACHE_TTL, LOG_LEVEL, LOG_FORMAT (json or pretty),
STATS_REFRESH_CONCURRENCY, STATS_REFRESH_STATEMENT_TIMEOUT, STATS_REFRESH_LOCK_TTL,
STATS_REFRESH_WAIT_TIMEOUT, STATS_REFRESH_GRACE_PERIOD, STATS_REFRESH_BATCH_FILE,
STATS_REFRESH_LEARN (off to disable), STATS_REFRESH_LEARN_WINDOW, STATS_REFRESH_LEARN_MAX,
STATS_REFRESH_PUSHGATEWAY_URL, STATS_REFRESH_ON_DRIFT, STATS_REFRESH_FORCE, STATS_API_CACHE_TTL, ROLLBAR_ACCESS_TOKEN (optional), ROLLBAR_ENVIRONMENT; for schedule
also STATS_REFRESH_SCHEDULE_MODE, STATS_REFRESH_PROBE_INTERVAL, STATS_REFRESH_QUIET_PROBE_INTERVAL, STATS_REFRESH_MAX_STALENESS,
STATS_REFRESH_DB_BUDGET, STATS_REFRESH_{DASHBOARD,EXECUTIONS,USERS}_CRON, STATS_REFRESH_CHECK_INTERVAL,
STATS_REFRESH_METRICS_PORT, STATS_REFRESH_METRICS_HOST. DATABASE_URL_FILE, REDIS_URL_FILE,
ROLLBAR_ACCESS_TOKEN_FILE: read the value from a file instead (Docker secrets). Flags override
the environment. TLS: sslmode=verify-full&sslrootcert=<CA file> in DATABASE_URL; rediss:// for Redis.`;

const API_CACHE_TTL_HELP = `the API's own cache TTL, to date the keys it wrote (env STATS_API_CACHE_TTL, default ${DEFAULTS.apiCacheTtlSeconds})`;

function connectionOptions(command: Command): Command {
  return command
    .option('--redis-url <url>', 'Redis URL of the API cache (env REDIS_URL)')
    .option('--redis-tls-ca-file <file>', "CA certificate(s) of a rediss:// server, PEM (env REDIS_TLS_CA_FILE; default: Node's CAs)")
    .option('--log-level <level>', 'log level on stderr: fatal, error, warn, info, debug, trace, silent (env LOG_LEVEL)');
}

const JSON_HELP = 'print JSON logs and summary even on a terminal, as when piped (env LOG_FORMAT=json|pretty)';

/** The options every refreshing command shares (refresh, warmup, schedule). */
function computeOptions(command: Command, ttlDefault: number): Command {
  return learnOptions(connectionOptions(command))
    .option('--json', JSON_HELP)
    .option('--batch-file <file>', 'read more targets from FILE, one a line, # comments (env STATS_REFRESH_BATCH_FILE)')
    .option('--database-url <url>', 'PostgreSQL URL of the API database, read only (env DATABASE_URL)')
    .option('--ttl <seconds>', `expiry of every written key (env STATS_CACHE_TTL, default ${ttlDefault})`)
    .option('--concurrency <n>', `SQL statements run in parallel (env STATS_REFRESH_CONCURRENCY, default ${DEFAULTS.concurrency})`)
    .option('--statement-timeout <seconds>', `limit on every SQL statement (default ${DEFAULTS.statementTimeoutSeconds}); a timeout fails its configs only`)
    .option('--lock-ttl <seconds>', `life of a family lock, renewed while the run lasts (default ${DEFAULTS.lockTtlSeconds})`)
    .option('--on-drift <mode>', `when the API's answers differ from ours: yield (stop writing the endpoint, delete our keys) or warn (env STATS_REFRESH_ON_DRIFT, default ${DEFAULTS.onDrift})`)
    .option('--api-cache-ttl <seconds>', API_CACHE_TTL_HELP)
    .option('--grace-period <seconds>', `after SIGTERM/SIGINT, how long in-flight work may finish (default ${DEFAULTS.gracePeriodSeconds})`);
}

function runOptions(command: Command): Command {
  return computeOptions(command, DEFAULTS.ttlSeconds)
    .option('--now <instant>', 'compute as of this ISO-8601 instant with zone, e.g. 2026-06-15T12:34:56Z (default: now)')
    .option('--dry-run', 'compute and print the payloads in the summary; write nothing, no Redis needed')
    .option('--force', 'compute even when nothing changed since the last run (env STATS_REFRESH_FORCE)')
    .option('--wait-lock', "wait for another run's family lock instead of skipping the family")
    .option('--wait-timeout <seconds>', `how long warmup waits for the services, and --wait-lock for a lock (default ${DEFAULTS.waitTimeoutSeconds})`)
    .option('--pushgateway-url <url>', 'push the run\'s metrics to this Prometheus Pushgateway (env STATS_REFRESH_PUSHGATEWAY_URL)')
    .addHelpText('after', FOOTER);
}

function scheduleOptions(command: Command): Command {
  const cron = (family: string) =>
    `cron mode: cron expression of ${family} runs, UTC, 5 fields or 6 with seconds (env STATS_REFRESH_${family.toUpperCase()}_CRON, default "${SCHEDULE_DEFAULTS.schedules[family as keyof typeof SCHEDULE_DEFAULTS.schedules]}")`;
  return computeOptions(command, SCHEDULE_DEFAULTS.ttlSeconds)
    .option('--mode <mode>', `change: run when the data changes (the leader of the replicas); cron: on the cron schedules (env STATS_REFRESH_SCHEDULE_MODE, default ${SCHEDULE_DEFAULTS.mode})`)
    .option('--probe-interval <seconds>', `change mode: how often to probe the data for changes (env STATS_REFRESH_PROBE_INTERVAL, default ${SCHEDULE_DEFAULTS.probeIntervalSeconds})`)
    .option('--quiet-probe-interval <seconds>', `change mode: how often to probe once no change was seen for 2 minutes; the first change seen brings back --probe-interval (env STATS_REFRESH_QUIET_PROBE_INTERVAL, default ${SCHEDULE_DEFAULTS.quietProbeIntervalSeconds})`)
    .option('--max-staleness <seconds>', `change mode: a full run at least this often, changes or not (env STATS_REFRESH_MAX_STALENESS, default ${SCHEDULE_DEFAULTS.maxStalenessSeconds})`)
    .option('--reconcile-interval <seconds>', `change mode: the rows kept in memory are reloaded and compared with memory at least this often (env STATS_REFRESH_RECONCILE_INTERVAL, default ${SCHEDULE_DEFAULTS.reconcileIntervalSeconds})`)
    .option('--db-budget <seconds>', "change mode: PostgreSQL seconds an hour; changes wait when spent (env STATS_REFRESH_DB_BUDGET, default: what the default cron schedules spend)")
    .option('--dashboard-cron <expr>', cron('dashboard'))
    .option('--executions-cron <expr>', cron('executions'))
    .option('--users-cron <expr>', cron('users'))
    .option('--check-interval <seconds>', `how often to check that every covered key exists (env STATS_REFRESH_CHECK_INTERVAL, default ${SCHEDULE_DEFAULTS.checkIntervalSeconds})`)
    .option('--metrics-port <port>', 'serve GET /metrics and /healthz on this port (env STATS_REFRESH_METRICS_PORT; off when unset)')
    .option('--metrics-host <host>', `address to listen on (env STATS_REFRESH_METRICS_HOST, default ${SCHEDULE_DEFAULTS.metricsHost})`)
    .option('--wait-timeout <seconds>', `how long to wait for the services at start before exiting 3 (default ${DEFAULTS.waitTimeoutSeconds})`)
    .addHelpText('after', FOOTER);
}

/** Learned coverage: refresh commands learn and refresh, status shows. */
function learnOptions(command: Command): Command {
  return command
    .option('--no-learn', 'leave out the learned requests (the ones the API computed itself)')
    .option('--learn-window <duration>', `how long a learned request stays after the API last wrote it, e.g. 24h, 90m, 7d (default ${DEFAULTS.learnWindowMs / 3_600_000}h)`)
    .option('--learn-max <n>', `learned requests per family at most, most recently seen first (default ${DEFAULTS.learnMax})`);
}

const TARGETS_HELP =
  `${[...FAMILIES, 'all'].join(', ')} (a family's batch and its learned requests), or a request in the API's syntax, ` +
  "with or without its path: 'executions?period=last_week&group_by=hour&status=FAILED', '/stats/users?country=Kenya'";

/** Commander's messages (and its "Did you mean" hints) as our single error line. */
function oneLine(text: string): string {
  const lines = text.replace(/^error: /, '').split('\n').map((line) => line.trim());
  return `stats-refresh: ${lines.filter(Boolean).join(' ')}`;
}

function buildProgram(signal: AbortSignal, setExit: (code: number) => void): Command {
  const program = new Command('stats-refresh')
    .description(
      "Keeps the Trends.Earth API's admin statistics cache warm: computes the /stats payloads on " +
        'PostgreSQL and writes them to the exact Redis keys the API reads.',
    )
    .version(`${VERSION} (computes as the Trends.Earth API's stats code at ${API_COMMIT}, ${API_COMMIT_DATE})`, '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${oneLine(text)}\n`) })
    .addHelpText('after', FOOTER);

  runOptions(
    program
      .command('refresh')
      .argument('[targets...]', TARGETS_HELP)
      .description('compute each target and write it to the keys the API reads'),
  ).action(async (targets: string[], flags: FlagValues) => {
    const { refreshCommand } = await import('./commands/refresh.js');
    setExit(await refreshCommand(['refresh', ...targets].join(' '), targets, flags, signal));
  });

  for (const family of ['all', ...FAMILIES]) {
    runOptions(program.command(family).description(`shorthand for \`refresh ${family}\``)).action(async (flags: FlagValues) => {
      const { refreshCommand } = await import('./commands/refresh.js');
      setExit(await refreshCommand(`refresh ${family}`, [family], flags, signal));
    });
  }

  runOptions(
    program
      .command('warmup')
      .description('wait (up to --wait-timeout) for PostgreSQL and Redis, then refresh all families; for init containers')
      .option('--best-effort', 'exit 0 even when it gave up or configs failed (logged): never hold back the API'),
  ).action(async (flags: FlagValues & { bestEffort?: boolean }) => {
    const { warmupCommand } = await import('./commands/warmup.js');
    setExit(await warmupCommand(flags, signal));
  });

  scheduleOptions(
    program
      .command('schedule')
      .description(
        'long-running: refresh every family now, then when the data changes (or each on its cron schedule); refresh at once keys that go missing; ' +
          'serve /metrics and /healthz with --metrics-port (for Compose, Swarm, systemd, a VM)',
      ),
  ).action(async (flags: ScheduleFlagValues) => {
    // The scheduler, croner and prom-client load only for the long-running mode: one-shot runs start faster.
    const { scheduleCommand } = await import('./commands/schedule.js');
    setExit(await scheduleCommand(flags, signal));
  });

  const status = async (flags: FlagValues & { json?: boolean }) => {
    const { statusCommand } = await import('./commands/status.js');
    setExit(await statusCommand(flags, signal));
  };
  const statusOptions = (command: Command) =>
    learnOptions(connectionOptions(command.option('--json', JSON_HELP))).option(
      '--now <instant>',
      'judge the learned requests as of this ISO-8601 instant (default: now), as a refresh with --now does',
    );
  statusOptions(
    program
      .command('status')
      .description('show every covered key (present, TTL, size, last write), each family’s last run, the learned requests and other stats keys'),
  ).action(status);

  connectionOptions(
    program
      .command('verify')
      .argument('[targets...]', `${FAMILIES.join(', ')} or all, or requests in the API's syntax (default: every endpoint)`)
      .description("compare the keys the API wrote itself with what stats-refresh computes for them: agree, drift or not comparable, per endpoint (read-only)")
      .option('--json', JSON_HELP)
      .option('--database-url <url>', 'PostgreSQL URL of the API database, read only (env DATABASE_URL)')
      .option('--now <instant>', 'the current instant, ISO-8601 with zone (default: now)')
      .option('--api-cache-ttl <seconds>', API_CACHE_TTL_HELP)
      .option('--ttl <seconds>', `our keys' expiry, as the runs set it (env STATS_CACHE_TTL, default ${DEFAULTS.ttlSeconds})`),
  ).action(async (targets: string[], flags: FlagValues & { json?: boolean }) => {
    const { verifyCommand } = await import('./commands/verify.js');
    setExit(await verifyCommand(targets, flags, signal));
  });

  const clear = async (pattern: string | undefined, flags: FlagValues & { anyPattern?: boolean; learned?: boolean; drift?: boolean }) => {
    const { clearCommand } = await import('./commands/clear.js');
    setExit(await clearCommand(pattern, flags, signal));
  };
  const clearHelp = 'delete stats_service:*<pattern>* (all stats keys without a pattern), like DELETE /stats/cache';
  const addClear = (command: Command) =>
    connectionOptions(
      command
        .argument('[pattern]', 'summary, trends, geographic, tasks, executions, users or activity')
        .description(clearHelp)
        .option('--dry-run', 'list the keys that would be deleted; delete nothing')
        .option('--any-pattern', 'accept a pattern the API would refuse')
        .option('--learned', 'also forget the learned requests (kept otherwise)')
        .option('--drift', "forget the drift recorded, so runs write the endpoint's keys again (deletes no key unless a pattern is given)"),
    ).action(clear);
  addClear(program.command('clear'));

  const cache = program.command('cache').description('cache commands under the API’s names: `cache info`, `cache clear`');
  statusOptions(cache.command('info').description('alias of `status`')).action(status);
  addClear(cache.command('clear'));
  return program;
}

/** How the lines below print: by LOG_FORMAT and the terminal, then also by the command's --json once parsed (see `main`). */
let lineFormat: LogFormat = lineFormatOf({});

/** The format of stderr for these flags; a LOG_FORMAT it cannot read is the command's exit 2, so none here. */
function lineFormatOf(flags: FlagValues): LogFormat {
  try {
    return formatFor(logFormatOf(flags, process.env), process.stderr);
  } catch {
    return formatFor(null, process.stderr);
  }
}

/** A log line written before (or after) the logger exists, shaped like the logger's. */
function logLine(level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void {
  process.stderr.write(formatRecord({ level, time: new Date().toISOString(), pid: process.pid, name: 'stats-refresh', ...fields, msg }, lineFormat));
}

/**
 * Node prints process warnings (a library's deprecation notice, say) as raw text on
 * stderr, and libraries write to the console (ioredis: "[WARN] Redis server does not
 * require a password…"); turn each into a log line like every other message, redacted.
 * stdout stays the summary's alone.
 */
function logWarningsAsJson(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    logLine('warn', { warning: warning.name, code: (warning as { code?: string }).code }, errorMessage(warning));
  });
  const asLog = (...args: unknown[]) => logLine('warn', { source: 'library' }, errorMessage(format(...args)));
  console.log = asLog;
  console.info = asLog;
  console.warn = asLog;
  console.error = asLog;
}

/**
 * First SIGTERM/SIGINT: stop starting work and finish gracefully. Second: exit at once.
 * SIGHUP (a closed terminal, a reload by habit) changes nothing: the settings are read at
 * start; say so rather than die with 129.
 */
function installSignalHandlers(controller: AbortController): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) process.exit(SIGNAL_EXIT[signal]);
      logLine('warn', { signal }, 'shutdown requested: finishing in-flight work');
      controller.abort(signal);
    });
  }
  process.on('SIGHUP', () => logLine('info', { signal: 'SIGHUP' }, 'SIGHUP ignored: settings are read at start; restart to change them, SIGTERM to stop'));
}

async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.OK;
  // `stats-refresh --help | head` closes stdout early: that is not an error worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(exitCode);
    throw error;
  });
  const controller = new AbortController();
  logWarningsAsJson();
  installSignalHandlers(controller);
  const program = buildProgram(controller.signal, (code) => {
    exitCode = code;
  });
  program.hook('preAction', (_program, action) => {
    lineFormat = lineFormatOf(action.opts());
  });
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    process.stderr.write(`stats-refresh: ${errorMessage(error)}\n`);
    return exitCodeOf(error);
  }
}

const code = await main(process.argv);
process.exitCode = code;
// A stuck socket must not keep a CronJob pod alive after the summary is out; say so, it is a leak.
setTimeout(() => {
  logLine('warn', { resources: process.getActiveResourcesInfo() }, 'forced exit: handles still open 5 s after the end');
  process.exit(code);
}, 5_000).unref();
