/**
 * The run configuration, read once from defaults, then the environment, then flags,
 * validated and frozen. Every error names the flag or variable to fix.
 */
import { UsageError } from './errors.js';
import { type CertificateFile, readCertificateFile, readSecretFile } from './io/files.js';
import { LOG_LEVELS, type LogLevel } from './io/logger.js';
import { type PostgresTls, parsePostgresTls } from './io/tls.js';
import { parseInstant } from './lib/time.js';

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
});

export interface Config {
  /** As given, TLS parameters included (messages show it, password hidden). */
  readonly databaseUrl: string;
  /** DATABASE_URL's sslmode and sslrootcert, with the CA file already read. */
  readonly databaseTls: PostgresTls;
  readonly redisUrl: string;
  /** The CA that signed the Redis server's certificate, for rediss:// URLs; null: Node's bundled CAs. */
  readonly redisTlsCa: CertificateFile | null;
  readonly ttlSeconds: number;
  readonly logLevel: LogLevel;
  readonly concurrency: number;
  readonly now: Date;
  readonly dryRun: boolean;
  readonly rollbarToken: string | null;
  readonly rollbarEndpoint: string | null;
  readonly environment: string;
  readonly statementTimeoutMs: number;
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
}

/** Flags as commander hands them over: strings, or booleans for switches. */
export interface FlagValues {
  databaseUrl?: string;
  redisUrl?: string;
  redisTlsCaFile?: string;
  ttl?: string;
  logLevel?: string;
  concurrency?: string;
  now?: string;
  dryRun?: boolean;
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
  return source.value;
}

function parseInteger(source: Source | undefined, fallback: number, min: number, max: number): number {
  if (!source) return fallback;
  const text = source.value.trim();
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${source.name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(source.value)}`);
  }
  return value;
}

function parseLogLevel(source: Source | undefined): LogLevel {
  if (!source) return DEFAULTS.logLevel;
  const level = source.value.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`${source.name} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(source.value)}`);
  }
  return level as LogLevel;
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
  const caFile = pick(flags.redisTlsCaFile, '--redis-tls-ca-file', env, 'REDIS_TLS_CA_FILE');
  if (!caFile) return { redisUrl, redisTlsCa: null };
  if (new URL(redisUrl).protocol !== 'rediss:') {
    throw new UsageError(
      `${caFile.name} is set but ${source?.name ?? 'REDIS_URL'} is not a rediss:// URL, so it would not be used; use rediss:// for TLS`,
    );
  }
  return { redisUrl, redisTlsCa: readCertificateFile(caFile.value, caFile.name) };
}

/** Builds the frozen configuration; throws UsageError naming the offending flag or variable. */
export function loadConfig(flags: FlagValues, env: Env, clock: () => Date = () => new Date()): Config {
  return Object.freeze({
    ...parseDatabase(flags, env),
    ...parseRedis(flags, env),
    ttlSeconds: parseInteger(pick(flags.ttl, '--ttl', env, 'STATS_CACHE_TTL'), DEFAULTS.ttlSeconds, 1, 7 * 24 * 3600),
    logLevel: parseLogLevel(pick(flags.logLevel, '--log-level', env, 'LOG_LEVEL')),
    concurrency: parseInteger(pick(flags.concurrency, '--concurrency', env, 'STATS_REFRESH_CONCURRENCY'), DEFAULTS.concurrency, 1, 32),
    now: parseNow(flags.now, clock),
    dryRun: flags.dryRun === true,
    rollbarToken: pickSecret(undefined, null, env, 'ROLLBAR_ACCESS_TOKEN')?.value.trim() || null,
    rollbarEndpoint: env.ROLLBAR_ENDPOINT?.trim() || null,
    environment: env.ROLLBAR_ENVIRONMENT?.trim() || DEFAULTS.environment,
    statementTimeoutMs:
      1000 *
      parseInteger(
        pick(flags.statementTimeout, '--statement-timeout', env, 'STATS_REFRESH_STATEMENT_TIMEOUT'),
        DEFAULTS.statementTimeoutSeconds,
        1,
        3600,
      ),
    lockTtlMs:
      1000 * parseInteger(pick(flags.lockTtl, '--lock-ttl', env, 'STATS_REFRESH_LOCK_TTL'), DEFAULTS.lockTtlSeconds, 1, 3600),
    waitLock: flags.waitLock === true,
    waitTimeoutMs:
      1000 *
      parseInteger(pick(flags.waitTimeout, '--wait-timeout', env, 'STATS_REFRESH_WAIT_TIMEOUT'), DEFAULTS.waitTimeoutSeconds, 1, 3600),
    gracePeriodMs:
      1000 *
      parseInteger(pick(flags.gracePeriod, '--grace-period', env, 'STATS_REFRESH_GRACE_PERIOD'), DEFAULTS.gracePeriodSeconds, 0, 3600),
    ...batchFileOf(pick(flags.batchFile, '--batch-file', env, 'STATS_REFRESH_BATCH_FILE')),
    learn: flags.learn !== false && env.STATS_REFRESH_LEARN?.trim().toLowerCase() !== 'off',
    learnWindowMs: parseDuration(pick(flags.learnWindow, '--learn-window', env, 'STATS_REFRESH_LEARN_WINDOW'), DEFAULTS.learnWindowMs),
    learnMax: parseInteger(pick(flags.learnMax, '--learn-max', env, 'STATS_REFRESH_LEARN_MAX'), DEFAULTS.learnMax, 0, 1000),
  });
}

/**
 * Secrets that must never be printed: URL passwords and the Rollbar token, wherever they
 * came from (flag, variable or _FILE). A URL's host and user stay printable on purpose.
 */
export function secretsOf(config: Config): string[] {
  const secrets: string[] = [];
  for (const url of [config.databaseUrl, config.redisUrl]) {
    try {
      const password = decodeURIComponent(new URL(url).password);
      if (password) secrets.push(password, new URL(url).password);
    } catch {
      // Already validated; nothing to add.
    }
  }
  if (config.rollbarToken) secrets.push(config.rollbarToken);
  return secrets;
}
