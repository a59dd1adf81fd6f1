/**
 * schedule's health rule, for GET /healthz: the scheduler loop is alive, and every family
 * had a successful run within two of its intervals (counted from the start before its
 * first success, so a scheduler that just started is healthy).
 */
import { FAMILIES, type Family } from '../requests/batches.js';

/** A check may wait this long on Redis (the long-running client's command timeout) before it ends. */
export const CHECK_TIMEOUT_MS = 10_000;

export interface HealthInput {
  readonly now: number;
  readonly startedAt: number;
  readonly stopping: boolean;
  /** When the last self-healing check ended (or the loop started). */
  readonly lastCheckAt: number;
  readonly checkIntervalMs: number;
  readonly intervalsMs: Readonly<Record<Family, number>>;
  readonly lastSuccessAt: Readonly<Record<Family, number | null>>;
}

export interface FamilyHealth {
  readonly healthy: boolean;
  readonly last_success: string | null;
  /** How old the last success may be, in seconds: two intervals. */
  readonly max_age_seconds: number;
  readonly age_seconds: number;
}

export interface HealthReport {
  readonly healthy: boolean;
  readonly loop_alive: boolean;
  readonly families: Record<Family, FamilyHealth>;
}

export function healthOf(input: HealthInput): HealthReport {
  const loopAlive = !input.stopping && input.now - input.lastCheckAt <= 2 * input.checkIntervalMs + CHECK_TIMEOUT_MS;
  const families = Object.fromEntries(
    FAMILIES.map((family) => {
      const success = input.lastSuccessAt[family];
      const ageMs = input.now - (success ?? input.startedAt);
      const maxAgeMs = 2 * input.intervalsMs[family];
      const health: FamilyHealth = {
        healthy: ageMs <= maxAgeMs,
        last_success: success === null ? null : new Date(success).toISOString(),
        max_age_seconds: maxAgeMs / 1000,
        age_seconds: Math.round(ageMs / 1000),
      };
      return [family, health];
    }),
  ) as Record<Family, FamilyHealth>;
  return { healthy: loopAlive && FAMILIES.every((family) => families[family].healthy), loop_alive: loopAlive, families };
}
