/**
 * schedule's health rule, for GET /healthz: the scheduler loop is alive, its checks answer,
 * the change probes answer (change mode), and every family had a successful run within two
 * of its intervals, by this process or by any other (another replica that won the family's
 * lock refreshed it just as well), counted from the start before its first success, so a
 * scheduler that just started is healthy. A follower (change mode) runs nothing and is
 * healthy, as long as its claims of the lease answer.
 */
import { REDIS_COMMAND_TIMEOUT_MS } from '../io/redis-client.js';
import { FAMILIES, type Family } from '../requests/batches.js';
import { PROBE_FAILURE_GRACE_MS } from './change-loop.js';


export interface HealthInput {
  readonly now: number;
  readonly startedAt: number;
  readonly stopping: boolean;
  /** When the last self-healing check ended (or the loop started). */
  readonly lastCheckAt: number;
  readonly checkIntervalMs: number;
  readonly intervalsMs: Readonly<Record<Family, number>>;
  /** This process's last successful run of each family. */
  readonly lastSuccessAt: Readonly<Record<Family, number | null>>;
  /** Each family's last successful run by anyone, as recorded in Redis (read by the checks). */
  readonly lastSuccessAnywhereAt?: Readonly<Record<Family, number | null>>;
  /** Why the last self-healing check failed (Redis silent, refusing); null while the checks answer. */
  readonly checkError: string | null;
  /** change mode: whether this replica holds the leader lease; null in cron mode. */
  readonly leading: boolean | null;
  /** change mode: why the last claim of the lease failed (Redis silent, refusing); null while claims answer. */
  readonly leaseError: string | null;
  /** change mode: why the change probes fail and for how long; null while they answer. */
  readonly probeFailure: { readonly error: string; readonly forMs: number } | null;
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
  /** change mode: `leader` or `follower`; absent in cron mode. */
  readonly role?: 'leader' | 'follower';
  /** What makes it unhealthy, in words; empty when healthy. */
  readonly reasons: readonly string[];
  readonly families: Record<Family, FamilyHealth>;
}

function latest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

export function healthOf(input: HealthInput): HealthReport {
  const loopAlive = !input.stopping && input.now - input.lastCheckAt <= 2 * input.checkIntervalMs + REDIS_COMMAND_TIMEOUT_MS;
  const families = Object.fromEntries(
    FAMILIES.map((family) => {
      const success = latest(input.lastSuccessAt[family], input.lastSuccessAnywhereAt?.[family] ?? null);
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
  const role = input.leading === null ? {} : { role: input.leading ? ('leader' as const) : ('follower' as const) };
  // A follower is one whose claims answer: one that cannot reach Redis does not know it is one.
  if (input.leading === false && input.leaseError === null) {
    return { healthy: !input.stopping, loop_alive: loopAlive, ...role, reasons: input.stopping ? ['stopping'] : [], families };
  }
  const probe = input.probeFailure;
  const reasons = [
    ...(input.stopping ? ['stopping'] : []),
    ...(!input.stopping && !loopAlive ? [`no self-healing check has ended for ${Math.round((input.now - input.lastCheckAt) / 1000)} s`] : []),
    ...(input.checkError === null ? [] : [`self-healing checks failing: ${input.checkError}`]),
    ...(input.leaseError === null ? [] : [`leader lease not claimed: ${input.leaseError}`]),
    ...(probe && probe.forMs > PROBE_FAILURE_GRACE_MS ? [`change probes failing for ${Math.round(probe.forMs / 1000)} s: ${probe.error}`] : []),
    ...FAMILIES.filter((family) => !families[family].healthy).map(
      (family) => `${family}: no successful run for ${families[family].age_seconds} s (at most ${families[family].max_age_seconds} s)`,
    ),
  ];
  return { healthy: reasons.length === 0, loop_alive: loopAlive, ...role, reasons, families };
}
