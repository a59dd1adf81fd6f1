/**
 * schedule's self-healing: which covered keys are missing, in one Redis round trip, and
 * how often a family may be refreshed because of them, so that a Redis that keeps losing
 * keys is not answered with a refresh every few seconds.
 */
import type { Family } from '../requests/batches.js';

/** The subset of a Redis client the check needs. */
export interface ExistsClient {
  pipeline(): { exists(key: string): unknown; exec(): Promise<Array<[Error | null, unknown]> | null> };
}

/**
 * The missing keys of each family, from one pipeline of `EXISTS key` (one round trip; one
 * reply per key, so we know which keys and which families). Throws when Redis does not answer.
 */
export async function missingByFamily(client: ExistsClient, keys: ReadonlyMap<string, Family>): Promise<Map<Family, string[]>> {
  const pipeline = client.pipeline();
  for (const key of keys.keys()) pipeline.exists(key);
  const replies = (await pipeline.exec()) ?? [];
  const missing = new Map<Family, string[]>();
  [...keys].forEach(([key, family], index) => {
    const [error, present] = replies[index] ?? [new Error('no reply from Redis'), null];
    if (error) throw error;
    if (present === 1) return;
    missing.set(family, [...(missing.get(family) ?? []), key]);
  });
  return missing;
}

export interface HealBudgetOptions {
  /** The first repeated heal waits this long after the previous one; each further one twice as long. */
  readonly baseMs: number;
  /** Keys that stayed present this long since the last heal make the next loss a fresh one, healed at once. */
  readonly quietMs: number;
  /** The longest wait between heals of a family (its schedule's interval: past it the schedule refreshes anyway). */
  readonly capMs: Readonly<Record<Family, number>>;
}

interface FamilyState {
  /** Heals since the keys last stayed present for `quietMs`. */
  streak: number;
  lastHealAt: number | null;
  completeSince: number | null;
  /** How long the keys stayed present before they were last found missing (0 when they never were since the last heal). */
  lastStretchMs: number;
}

/**
 * The self-healing bound. A loss is healed at once unless the family's keys keep
 * vanishing: when they stayed present less than `quietMs` since the last heal, the next
 * heal waits `baseMs`·2^(n−1) after the previous one (n: heals in the streak), up to the
 * family's cap. The same holds while refreshes fail (the keys never come back).
 */
export class HealBudget {
  private readonly states = new Map<Family, FamilyState>();

  constructor(private readonly options: HealBudgetOptions) {}

  private state(family: Family): FamilyState {
    let state = this.states.get(family);
    if (!state) {
      state = { streak: 0, lastHealAt: null, completeSince: null, lastStretchMs: 0 };
      this.states.set(family, state);
    }
    return state;
  }

  /** Feeds one check's finding for the family. */
  observe(family: Family, complete: boolean, now: number): void {
    const state = this.state(family);
    if (complete) {
      state.completeSince ??= now;
    } else if (state.completeSince !== null) {
      state.lastStretchMs = now - state.completeSince;
      state.completeSince = null;
    }
  }

  /** How long until the family may be healed (0: now). Call after `observe`. */
  waitMs(family: Family, now: number): number {
    const state = this.state(family);
    if (state.lastHealAt === null || state.lastStretchMs >= this.options.quietMs) state.streak = 0;
    if (state.streak === 0 || state.lastHealAt === null) return 0;
    const delay = Math.min(this.options.capMs[family], this.options.baseMs * 2 ** (state.streak - 1));
    return Math.max(0, state.lastHealAt + delay - now);
  }

  /** Records that a heal of the family started. */
  healed(family: Family, now: number): void {
    const state = this.state(family);
    state.streak += 1;
    state.lastHealAt = now;
    state.lastStretchMs = 0;
  }
}
