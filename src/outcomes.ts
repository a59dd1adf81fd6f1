/**
 * A run's summary broken down by family, for metrics. Configs and keys are attributed
 * exactly; a multi-family run (`refresh all`, warmup, schedule's start) shares its SQL
 * statements between families, so its duration and statement count are the run's as a
 * whole, repeated under each family it covered.
 */
import { type Family, type RefreshConfig, configsFor } from './requests/batches.js';
import { familyOfKey } from './requests/key-parser.js';
import { KEY_PREFIX } from './requests/keys.js';
import type { RefreshSummary } from './refresh.js';

/** ok: every config written; failed: some config failed or the run was cut short; skipped: another run held the lock. */
export type RunResult = 'ok' | 'failed' | 'skipped';
export const RUN_RESULTS: readonly RunResult[] = ['ok', 'failed', 'skipped'];

export interface FamilyOutcome {
  readonly family: Family;
  readonly result: RunResult;
  readonly finishedAt: Date;
  /** The whole run's, when it covered several families. */
  readonly durationSeconds: number;
  /** The whole run's, when it covered several families. */
  readonly statements: number;
  readonly configsOk: number;
  readonly configsFailed: number;
  readonly keysWritten: number;
  /** Learned requests the run refreshed with the family. */
  readonly learnedRequests: number;
}

/**
 * The family that wrote `key` in a run of `families`: by the key's method; a section key
 * (`_get_*`) belongs to dashboard when it ran, else to users (whose configs also cache the
 * geographic section).
 */
export function familyOfWrittenKey(key: string, families: readonly Family[]): Family | null {
  const own = familyOfKey(key);
  if (own) return own;
  if (!key.startsWith(`${KEY_PREFIX}_get_`)) return null;
  if (families.includes('dashboard')) return 'dashboard';
  return families.includes('users') ? 'users' : null;
}

/**
 * One outcome per requested family, from the summary of the run that covered them and the
 * configs it ran (each counts for its own family).
 */
export function outcomesOf(
  summary: RefreshSummary,
  requested: readonly Family[],
  configs: readonly RefreshConfig[],
  finishedAt: Date,
  learned: readonly RefreshConfig[] = [],
): FamilyOutcome[] {
  const skipped = new Set(summary.skipped ?? []);
  const ran = requested.filter((family) => !skipped.has(family));
  const whole = { finishedAt, durationSeconds: summary.duration_ms / 1000, statements: summary.statements };
  return requested.map((family): FamilyOutcome => {
    if (skipped.has(family)) {
      return { family, result: 'skipped', ...whole, durationSeconds: 0, statements: 0, configsOk: 0, configsFailed: 0, keysWritten: 0, learnedRequests: 0 };
    }
    const failed = summary.failures.filter((failure) => failure.config.startsWith(`${family}/`)).length;
    const total = configs.filter((config) => config.family === family).length;
    const keysWritten = summary.cache_keys.filter((key) => familyOfWrittenKey(key, ran) === family).length;
    const cutShort = summary.interrupted !== undefined;
    return {
      family,
      result: failed > 0 || cutShort ? 'failed' : 'ok',
      ...whole,
      configsOk: total - failed,
      configsFailed: failed,
      keysWritten,
      learnedRequests: learned.filter((config) => config.family === family).length,
    };
  });
}

/** Outcomes of a run that could not start (e.g. Redis down when taking the locks): every config failed. */
export function failedOutcomes(families: readonly Family[], finishedAt: Date, durationSeconds: number): FamilyOutcome[] {
  return families.map((family) => ({
    family,
    result: 'failed',
    finishedAt,
    durationSeconds,
    statements: 0,
    configsOk: 0,
    configsFailed: configsFor([family]).length,
    keysWritten: 0,
    learnedRequests: 0,
  }));
}
