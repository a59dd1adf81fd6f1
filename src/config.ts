/**
 * The run configuration, read once from defaults, then the environment, then flags,
 * validated and frozen. Every error names the flag or variable to fix.
 */
import { UsageError } from './lib/errors.js';
import type { ConnectionSettings } from './io/connections.js';
import { readCertificateFile, readSecretFile } from './io/files.js';
import { LOG_FORMATS, type LogFormat } from './io/log-format.js';
import { LOG_LEVELS, type LogLevel } from './io/logger.js';
import { parsePostgresTls } from './io/tls.js';
import { firingsPerHour, longestGapMs } from './lib/cron.js';
import { credentialsOf } from './lib/redact.js';
import { FAMILIES, type Family } from './requests/batches.js';
import { parseInstant } from './lib/time.js';
import type { DriftSettings, OnDrift } from './run/drift-check.js';

export const DEFAULTS = Object.freeze({
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: 'redis://127.0.0.1:6379/0',
  ttlSeconds: 300,
  logLevel: 'info' as LogLevel,
  // Measured on two cores: a third statement at once only adds contention (bench/).
  concurrency: 2,
  environment: 'production',
  statementTimeoutSeconds: 60,
  // Renewed every third of its life while the run goes on; only a dead holder lets it lapse.
  lockTtlSeconds: 60,
  waitTimeoutSeconds: 120,
  // Kubernetes kills 30 s after SIGTERM by default: finish in-flight work well before that.
  gracePeriodSeconds: 20,
  // A request the API computed stays warm for a day after it was last asked for.
  learnWindowMs: 24 * 3600 * 1000,
  learnMax: 50,
  // The API's StatsService.CACHE_TTL.
  apiCacheTtlSeconds: 300,
  onDrift: 'yield' as OnDrift,
});

export const ON_DRIFT_MODES: readonly OnDrift[] = ['yield', 'warn'];

/** How `schedule` decides when to run: when the data changes (the default), or on the cron schedules. */
export type ScheduleMode = 'change' | 'cron';
export const SCHEDULE_MODES: readonly ScheduleMode[] = ['change', 'cron'];

/** `schedule`'s defaults: the CronJobs' staggered schedules (k8s/base), in UTC. */
export const SCHEDULE_DEFAULTS = Object.freeze({
  mode: 'change' as ScheduleMode,
  schedules: Object.freeze({ dashboard: '1-59/4 * * * *', executions: '2-59/5 * * * *', users: '4-59/6 * * * *' }) as Readonly<
    Record<Family, string>
  >,
  checkIntervalSeconds: 5,
  probeIntervalSeconds: 1,
  // After QUIET_AFTER_MS (src/schedule/change-loop.ts) without a change: a third of the probes.
  quietProbeIntervalSeconds: 3,
  // The API's own cache lifetime: never staler than the API itself would serve.
  maxStalenessSeconds: 300,
  // The rows kept in memory are compared with a fresh load at least this often.
  reconcileIntervalSeconds: 3600,
  // Above every default schedule's longest gap (users: 360 s) plus a slow run, like the warm-up's 750 s.
  ttlSeconds: 750,
  metricsHost: '0.0.0.0',
});

export interface Config extends ConnectionSettings {
  readonly ttlSeconds: number;
  readonly logLevel: LogLevel;
  /** How logs and summaries print, as --json or LOG_FORMAT ask; null: pretty on a terminal, JSON elsewhere. */
  readonly logFormat: LogFormat | null;
  readonly now: Date;
  readonly dryRun: boolean;
  /** One-shot runs compute even when nothing changed since the last run (src/run/unchanged.ts). */
  readonly force: boolean;
  readonly rollbarToken: string | null;
  readonly rollbarEndpoint: string | null;
  readonly environment: string;
  readonly lockTtlMs: number;
  /** Wait for a family's lock instead of skipping the family. */
  readonly waitLock: boolean;
  readonly waitTimeoutMs: number;
  readonly gracePeriodMs: number;
  /** A file of targets (one a line), or null. */
  readonly batchFile: string | null;
  /** Where `batchFile` came from, for messages (--batch-file or STATS_REFRESH_BATCH_FILE). */
  readonly batchFileSource: string;
  /** Learned coverage: refresh the requests the API computed itself (see io/learned.ts). */
  readonly learn: boolean;
  readonly learnWindowMs: number;
  readonly learnMax: number;
  /** One-shot runs push their metrics here when set. */
  readonly pushgatewayUrl: string | null;
  /** What a run does when the API's answers differ from ours: yield the endpoint to the API, or only warn. */
  readonly onDrift: OnDrift;
  /** The API's own cache TTL: when it wrote a key follows from the key's remaining life. */
  readonly apiCacheTtlSeconds: number;
}

/** What only `schedule` reads. */
export interface ScheduleConfig {
  readonly mode: ScheduleMode;
  /** The cron expressions (cron mode; in change mode the defaults, unused). */
  readonly schedules: Readonly<Record<Family, string>>;
  /** The longest gap between two runs of each family: its schedule's (cron mode), or --max-staleness (change mode). */
  readonly intervalsMs: Readonly<Record<Family, number>>;
  /** change mode: how often the change probe runs. */
  readonly probeIntervalMs: number;
  /** change mode: how often it runs once no change was seen for a while (at least probeIntervalMs). */
  readonly quietProbeIntervalMs: number;
  /** change mode: a full run at least this long after the last one started. */
  readonly maxStalenessMs: number;
  /** change mode: the rows kept in memory are reloaded and compared with what memory held at least this often. */
  readonly reconcileIntervalMs: number;
  /** change mode: PostgreSQL seconds an hour; null: what the default cron schedules would spend (see src/schedule/db-budget.ts). */
  readonly dbBudgetSecondsPerHour: number | null;
  /** Family runs an hour of the default cron schedules (SCHEDULE_DEFAULTS), for the default budget. */
  readonly cronRunsPerHour: number;
  /** Settings given that the mode does not read (the cron expressions in change mode): warned about at start. */
  readonly ignored: readonly string[];
  readonly checkIntervalMs: number;
  /** null: no HTTP server (no /metrics, no /healthz). 0: any free port (logged). */
  readonly metricsPort: number | null;
  readonly metricsHost: string;
}

/** Flags as commander hands them over: strings, or booleans for switches. */
export interface FlagValues {
  databaseUrl?: string;
  redisUrl?: string;
  redisTlsCaFile?: string;
  ttl?: string;
  logLevel?: string;
  /** --json: print JSON even on a terminal. */
  json?: boolean;
  concurrency?: string;
  now?: string;
  dryRun?: boolean;
  force?: boolean;
  statementTimeout?: string;
  lockTtl?: string;
  waitLock?: boolean;
  waitTimeout?: string;
  gracePeriod?: string;
  batchFile?: string;
  /** false with --no-learn. */
  learn?: boolean;
  learnWindow?: string;
  learnMax?: string;
  pushgatewayUrl?: string;
  onDrift?: string;
  apiCacheTtl?: string;
}

/** `schedule`'s own flags. */
export interface ScheduleFlagValues extends FlagValues {
  dashboardCron?: string;
  executionsCron?: string;
  usersCron?: string;
  checkInterval?: string;
  metricsPort?: string;
  metricsHost?: string;
  mode?: string;
  probeInterval?: string;
  quietProbeInterval?: string;
  maxStaleness?: string;
  reconcileInterval?: string;
  dbBudget?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

interface Source {
  readonly value: string;
  readonly name: string;
}

/** The flag's value if given, else the variable's, else undefined; remembers which one for messages. */
function pick(flag: string | undefined, flagName: string, env: Env, variable: string): Source | undefined {
  if (flag !== undefined) return { value: flag, name: flagName };
  const fromEnv = env[variable];
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, name: variable };
  return undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * A secret that may come from a flag, `variable`, or a file named by `variable_FILE` (the
 * convention of Docker Swarm and the official database images). Setting both variables is
 * a usage error, even when a flag is given; the flag still wins over either, and then the
 * file is not read.
 */
function pickSecret(flag: string | undefined, flagName: string | null, env: Env, variable: string): Source | undefined {
  const fileVariable = `${variable}_FILE`;
  const direct = nonEmpty(env[variable]);
  const path = nonEmpty(env[fileVariable]);
  if (direct !== undefined && path !== undefined) {
    throw new UsageError(`${variable} and ${fileVariable} are both set; set only one of them`);
  }
  if (flag !== undefined && flagName !== null) return { value: flag, name: flagName };
  if (path !== undefined) return { value: readSecretFile(path, fileVariable), name: fileVariable };
  return direct === undefined ? undefined : { value: direct, name: variable };
}

function parseUrl(source: Source | undefined, fallback: string, schemes: readonly string[], what: string): string {
  if (!source) return fallback;
  let parsed: URL;
  try {
    parsed = new URL(source.value);
  } catch {
    throw new UsageError(`${source.name} is not a valid URL; expected ${schemes[0]}//host:port/... for ${what}`);
  }
  if (!schemes.includes(parsed.protocol)) {
    throw new UsageError(`${source.name} must be a ${schemes.join(' or ')} URL for ${what}, got ${parsed.protocol}`);
  }
  // The drivers decode these parts themselves, and fail far from here (or quote the part) on a stray %.
  for (const [part, text] of [
    ['user name', parsed.username],
    ['password', parsed.password],
    ['path', parsed.pathname],
    ['query', parsed.search],
  ] as const) {
    try {
      decodeURIComponent(text);
    } catch {
      throw new UsageError(`${source.name}: the ${part} holds a % that does not start an escape such as %40; write a literal % as %25`);
    }
  }
  return source.value;
}

/** ioredis reads every query parameter of the URL as a client option: only these mean what they say. */
const REDIS_QUERY_PARAMETERS = ['db', 'password', 'username', 'family'];

/** The Redis URL's database: a whole number, in the path or as `db=` (ioredis would write elsewhere, or throw). */
function checkRedisUrl(url: string, name: string): void {
  const parsed = new URL(url);
  for (const parameter of parsed.searchParams.keys()) {
    if (!REDIS_QUERY_PARAMETERS.includes(parameter)) {
      throw new UsageError(`${name}: the query parameter ${JSON.stringify(parameter)} is not supported; only ${REDIS_QUERY_PARAMETERS.join(', ')} are`);
    }
  }
  const path = parsed.pathname.replace(/^\//, '');
  for (const db of [path, parsed.searchParams.get('db')]) {
    if (db === null || db === '') continue;
    if (!/^\d{1,9}$/.test(db)) {
      throw new UsageError(`${name}: the database must be a whole number, as in redis://host:6379/0, got ${JSON.stringify(decodeURIComponent(db))}`);
    }
  }
}

/** STATS_REFRESH_LEARN: on or off, in the usual spellings; anything else is a mistake, not "on". */
function parseSwitch(source: Source | undefined, fallback: boolean): boolean {
  if (!source) return fallback;
  const value = source.value.trim().toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(value)) return true;
  if (['off', 'false', 'no', '0'].includes(value)) return false;
  throw new UsageError(`${source.name} must be on or off (or true/false, yes/no, 1/0), got ${JSON.stringify(source.value)}`);
}

/** A number from `min` to `max`: whole, or (`fractions`) a decimal such as 0.5 seconds. */
function parseNumber(source: Source | undefined, fallback: number, min: number, max: number, fractions = false): number {
  if (!source) return fallback;
  const text = source.value.trim();
  const value = Number(text);
  const shape = fractions ? /^\d+(\.\d+)?$/ : /^\d+$/;
  if (!shape.test(text) || !(value >= min && value <= max)) {
    const what = fractions ? 'a number of seconds' : 'a whole number';
    throw new UsageError(`${source.name} must be ${what} from ${min} to ${max}, got ${JSON.stringify(source.value)}`);
  }
  return value;
}

function parseChoice<T extends string>(source: Source | undefined, choices: readonly T[], fallback: T): T {
  if (!source) return fallback;
  const value = source.value.trim().toLowerCase();
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${source.name} must be one of ${choices.join(', ')}, got ${JSON.stringify(source.value)}`);
  }
  return value as T;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as `90m`, `24h` or `2d` (a bare number is hours), in milliseconds. */
function parseDuration(source: Source | undefined, fallbackMs: number): number {
  if (!source) return fallbackMs;
  const match = /^(\d+)([smhd]?)$/.exec(source.value.trim());
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2] || 'h']! : Number.NaN;
  if (!(ms > 0) || ms > 366 * DURATION_UNITS.d!) {
    throw new UsageError(`${source.name} must be a duration such as 90m, 24h or 7d (at most 366d), got ${JSON.stringify(source.value)}`);
  }
  return ms;
}

function parseNow(flag: string | undefined, clock: () => Date): Date {
  if (flag === undefined) return clock();
  const instant = parseInstant(flag);
  if (!instant) {
    throw new UsageError(
      `--now must be an ISO-8601 instant with a zone, e.g. 2026-06-15T12:34:56Z, got ${JSON.stringify(flag)}`,
    );
  }
  return instant;
}

function batchFileOf(source: Source | undefined): { batchFile: string | null; batchFileSource: string } {
  return { batchFile: source?.value.trim() || null, batchFileSource: source?.name ?? '--batch-file' };
}

/** The PostgreSQL URL and its TLS settings (sslrootcert read now, once). */
function parseDatabase(flags: FlagValues, env: Env): Pick<Config, 'databaseUrl' | 'databaseTls'> {
  const source = pickSecret(flags.databaseUrl, '--database-url', env, 'DATABASE_URL');
  const databaseUrl = parseUrl(source, DEFAULTS.databaseUrl, ['postgres:', 'postgresql:'], 'PostgreSQL');
  return { databaseUrl, databaseTls: parsePostgresTls(databaseUrl, source?.name ?? 'DATABASE_URL') };
}

/** The Redis URL and, for rediss://, the CA file (read now, once). A CA without TLS is a mistake, not a no-op. */
function parseRedis(flags: FlagValues, env: Env): Pick<Config, 'redisUrl' | 'redisTlsCa'> {
  const source = pickSecret(flags.redisUrl, '--redis-url', env, 'REDIS_URL');
  const redisUrl = parseUrl(source, DEFAULTS.redisUrl, ['redis:', 'rediss:'], 'Redis');
  checkRedisUrl(redisUrl, source?.name ?? 'REDIS_URL');
  const caFile = pick(flags.redisTlsCaFile, '--redis-tls-ca-file', env, 'REDIS_TLS_CA_FILE');
  if (!caFile) return { redisUrl, redisTlsCa: null };
  if (new URL(redisUrl).protocol !== 'rediss:') {
    throw new UsageError(
      `${caFile.name} is set but ${source?.name ?? 'REDIS_URL'} is not a rediss:// URL, so it would not be used; use rediss:// for TLS`,
    );
  }
  return { redisUrl, redisTlsCa: readCertificateFile(caFile.value, caFile.name) };
}

/** The format --json or LOG_FORMAT asks for (the flag wins), or null to follow each stream; throws UsageError naming LOG_FORMAT. */
export function logFormatOf(flags: Pick<FlagValues, 'json'>, env: Env): LogFormat | null {
  const source = pick(flags.json === true ? 'json' : undefined, '--json', env, 'LOG_FORMAT');
  return source ? parseChoice(source, LOG_FORMATS, 'json') : null;
}

/**
 * Builds the frozen configuration; throws UsageError naming the offending flag or variable.
 * `defaults` lets a command change a default (schedule's longer TTL).
 */
export function loadConfig(
  flags: FlagValues,
  env: Env,
  clock: () => Date = () => new Date(),
  defaults: { ttlSeconds?: number } = {},
): Config {
  return Object.freeze({
    ...parseDatabase(flags, env),
    ...parseRedis(flags, env),
    ttlSeconds: parseNumber(
      pick(flags.ttl, '--ttl', env, 'STATS_CACHE_TTL'),
      defaults.ttlSeconds ?? DEFAULTS.ttlSeconds,
      1,
      7 * 24 * 3600,
    ),
    logLevel: parseChoice(pick(flags.logLevel, '--log-level', env, 'LOG_LEVEL'), LOG_LEVELS, DEFAULTS.logLevel),
    logFormat: logFormatOf(flags, env),
    concurrency: parseNumber(pick(flags.concurrency, '--concurrency', env, 'STATS_REFRESH_CONCURRENCY'), DEFAULTS.concurrency, 1, 32),
    now: parseNow(flags.now, clock),
    dryRun: flags.dryRun === true,
    force: flags.force === true || parseSwitch(pick(undefined, '', env, 'STATS_REFRESH_FORCE'), false),
    rollbarToken: pickSecret(undefined, null, env, 'ROLLBAR_ACCESS_TOKEN')?.value.trim() || null,
    rollbarEndpoint: env.ROLLBAR_ENDPOINT?.trim() || null,
    environment: env.ROLLBAR_ENVIRONMENT?.trim() || DEFAULTS.environment,
    statementTimeoutMs:
      1000 *
      parseNumber(
        pick(flags.statementTimeout, '--statement-timeout', env, 'STATS_REFRESH_STATEMENT_TIMEOUT'),
        DEFAULTS.statementTimeoutSeconds,
        1,
        3600,
      ),
    lockTtlMs:
      1000 * parseNumber(pick(flags.lockTtl, '--lock-ttl', env, 'STATS_REFRESH_LOCK_TTL'), DEFAULTS.lockTtlSeconds, 1, 3600),
    waitLock: flags.waitLock === true,
    waitTimeoutMs:
      1000 *
      parseNumber(pick(flags.waitTimeout, '--wait-timeout', env, 'STATS_REFRESH_WAIT_TIMEOUT'), DEFAULTS.waitTimeoutSeconds, 1, 3600),
    gracePeriodMs:
      1000 *
      parseNumber(pick(flags.gracePeriod, '--grace-period', env, 'STATS_REFRESH_GRACE_PERIOD'), DEFAULTS.gracePeriodSeconds, 0, 3600),
    ...batchFileOf(pick(flags.batchFile, '--batch-file', env, 'STATS_REFRESH_BATCH_FILE')),
    learn: flags.learn !== false && parseSwitch(pick(undefined, '', env, 'STATS_REFRESH_LEARN'), true),
    learnWindowMs: parseDuration(pick(flags.learnWindow, '--learn-window', env, 'STATS_REFRESH_LEARN_WINDOW'), DEFAULTS.learnWindowMs),
    learnMax: parseNumber(pick(flags.learnMax, '--learn-max', env, 'STATS_REFRESH_LEARN_MAX'), DEFAULTS.learnMax, 0, 1000),
    onDrift: parseChoice(pick(flags.onDrift, '--on-drift', env, 'STATS_REFRESH_ON_DRIFT'), ON_DRIFT_MODES, DEFAULTS.onDrift),
    apiCacheTtlSeconds: parseNumber(
      pick(flags.apiCacheTtl, '--api-cache-ttl', env, 'STATS_API_CACHE_TTL'),
      DEFAULTS.apiCacheTtlSeconds,
      1,
      7 * 24 * 3600,
    ),
    pushgatewayUrl: parseOptionalUrl(
      pick(flags.pushgatewayUrl, '--pushgateway-url', env, 'STATS_REFRESH_PUSHGATEWAY_URL'),
      ['http:', 'https:'],
      'the Pushgateway',
    ),
  });
}

function parseOptionalUrl(source: Source | undefined, schemes: readonly string[], what: string): string | null {
  return source ? parseUrl(source, '', schemes, what) : null;
}

function parseCronSource(source: Source, now: Date): { expression: string; intervalMs: number } {
  const expression = source.value.trim();
  let intervalMs: number | null;
  try {
    intervalMs = longestGapMs(expression, now);
  } catch (error) {
    throw new UsageError(`${source.name} is not a valid cron expression (${JSON.stringify(source.value)}): ${(error as Error).message}`);
  }
  if (intervalMs === null) throw new UsageError(`${source.name} (${JSON.stringify(source.value)}) never fires`);
  return { expression, intervalMs };
}

/** Each family's cron expression as given (flag or variable), or undefined for the default. */
function cronSources(flags: ScheduleFlagValues, env: Env): Record<Family, Source | undefined> {
  return {
    dashboard: pick(flags.dashboardCron, '--dashboard-cron', env, 'STATS_REFRESH_DASHBOARD_CRON'),
    executions: pick(flags.executionsCron, '--executions-cron', env, 'STATS_REFRESH_EXECUTIONS_CRON'),
    users: pick(flags.usersCron, '--users-cron', env, 'STATS_REFRESH_USERS_CRON'),
  };
}

/** Each family's cron expression (given or default) and the longest gap between its runs. */
function parseSchedules(sources: Record<Family, Source | undefined>, now: Date) {
  const schedules = {} as Record<Family, string>;
  const intervalsMs = {} as Record<Family, number>;
  for (const family of FAMILIES) {
    const parsed = parseCronSource(sources[family] ?? { value: SCHEDULE_DEFAULTS.schedules[family], name: `the default ${family} schedule` }, now);
    schedules[family] = parsed.expression;
    intervalsMs[family] = parsed.intervalMs;
  }
  return { schedules, intervalsMs };
}

/**
 * The probe interval while quiet: given, it lies between the probe interval and
 * --max-staleness; by default it is the default's, kept within those two.
 */
function parseQuietProbeInterval(flags: ScheduleFlagValues, env: Env, probeSeconds: number, stalenessSeconds: number): number {
  const source = pick(flags.quietProbeInterval, '--quiet-probe-interval', env, 'STATS_REFRESH_QUIET_PROBE_INTERVAL');
  if (!source) return Math.min(stalenessSeconds, Math.max(probeSeconds, SCHEDULE_DEFAULTS.quietProbeIntervalSeconds));
  const seconds = parseNumber(source, SCHEDULE_DEFAULTS.quietProbeIntervalSeconds, 0.1, 3600, true);
  if (seconds < probeSeconds) throw new UsageError(`${source.name} (${seconds} s) must not be below the probe interval (${probeSeconds} s)`);
  if (seconds > stalenessSeconds) throw new UsageError(`${source.name} (${seconds} s) must not be above --max-staleness (${stalenessSeconds} s)`);
  return seconds;
}

/** change mode's settings: the probe intervals, the staleness bound and the database budget. */
function parseChangeSettings(flags: ScheduleFlagValues, env: Env) {
  const probeSeconds = parseNumber(
    pick(flags.probeInterval, '--probe-interval', env, 'STATS_REFRESH_PROBE_INTERVAL'),
    SCHEDULE_DEFAULTS.probeIntervalSeconds,
    0.1,
    3600,
    true,
  );
  const stalenessSource = pick(flags.maxStaleness, '--max-staleness', env, 'STATS_REFRESH_MAX_STALENESS');
  const stalenessSeconds = parseNumber(stalenessSource, SCHEDULE_DEFAULTS.maxStalenessSeconds, 0.1, 7 * 24 * 3600, true);
  if (stalenessSeconds < probeSeconds) {
    throw new UsageError(
      `${stalenessSource?.name ?? '--max-staleness'} (${stalenessSeconds} s) must not be below the probe interval (${probeSeconds} s)`,
    );
  }
  const quietSeconds = parseQuietProbeInterval(flags, env, probeSeconds, stalenessSeconds);
  const budget = pick(flags.dbBudget, '--db-budget', env, 'STATS_REFRESH_DB_BUDGET');
  // A week at most: what the indexed reads cannot see by design is corrected within it.
  const reconcileSeconds = parseNumber(
    pick(flags.reconcileInterval, '--reconcile-interval', env, 'STATS_REFRESH_RECONCILE_INTERVAL'),
    SCHEDULE_DEFAULTS.reconcileIntervalSeconds,
    1,
    7 * 24 * 3600,
    true,
  );
  return {
    probeIntervalMs: Math.round(1000 * probeSeconds),
    quietProbeIntervalMs: Math.round(1000 * quietSeconds),
    maxStalenessMs: Math.round(1000 * stalenessSeconds),
    reconcileIntervalMs: Math.round(1000 * reconcileSeconds),
    // Seconds of PostgreSQL time an hour: 0 would never allow a run, more than an hour is no budget.
    dbBudgetSecondsPerHour: budget ? parseNumber(budget, 0, 0.001, 3600, true) : null,
  };
}

/** Reads `schedule`'s own settings; throws UsageError naming the offending flag or variable. */
export function loadScheduleConfig(flags: ScheduleFlagValues, env: Env, clock: () => Date = () => new Date()): ScheduleConfig {
  const mode = parseChoice(pick(flags.mode, '--mode', env, 'STATS_REFRESH_SCHEDULE_MODE'), SCHEDULE_MODES, SCHEDULE_DEFAULTS.mode);
  const sources = cronSources(flags, env);
  // In change mode the cron settings are not read, only named in a warning: not an error.
  const ignored = mode === 'cron' ? [] : FAMILIES.flatMap((family) => sources[family]?.name ?? []);
  const cron = parseSchedules(mode === 'cron' ? sources : { dashboard: undefined, executions: undefined, users: undefined }, clock());
  const change = parseChangeSettings(flags, env);
  const port = pick(flags.metricsPort, '--metrics-port', env, 'STATS_REFRESH_METRICS_PORT');
  const host = pick(flags.metricsHost, '--metrics-host', env, 'STATS_REFRESH_METRICS_HOST');
  const checkSeconds = parseNumber(
    pick(flags.checkInterval, '--check-interval', env, 'STATS_REFRESH_CHECK_INTERVAL'),
    SCHEDULE_DEFAULTS.checkIntervalSeconds,
    0.1,
    3600,
    true,
  );
  const intervalsMs = mode === 'cron' ? cron.intervalsMs : Object.fromEntries(FAMILIES.map((family) => [family, change.maxStalenessMs]));
  return Object.freeze({
    mode,
    schedules: Object.freeze(cron.schedules),
    intervalsMs: Object.freeze(intervalsMs) as Readonly<Record<Family, number>>,
    ...change,
    cronRunsPerHour: FAMILIES.reduce((sum, family) => sum + firingsPerHour(SCHEDULE_DEFAULTS.schedules[family], clock()), 0),
    ignored: Object.freeze(ignored),
    checkIntervalMs: Math.round(1000 * checkSeconds),
    metricsPort: port ? parseNumber(port, 0, 0, 65_535) : null,
    metricsHost: host?.value.trim() || SCHEDULE_DEFAULTS.metricsHost,
  });
}

/** What the drift check reads of the settings: runs and `verify` judge with the same. */
export function driftSettingsOf(config: Config): DriftSettings {
  return { onDrift: config.onDrift, apiTtlMs: config.apiCacheTtlSeconds * 1000, ourTtlMs: config.ttlSeconds * 1000 };
}

/**
 * Secrets that must never be printed: URL passwords and the Rollbar token, wherever they
 * came from (flag, variable or _FILE). A URL's host and user stay printable on purpose.
 */
export function secretsOf(config: Config): string[] {
  const secrets = [config.databaseUrl, config.redisUrl, config.pushgatewayUrl ?? ''].flatMap(credentialsOf);
  if (config.rollbarToken) secrets.push(config.rollbarToken);
  return secrets;
}
