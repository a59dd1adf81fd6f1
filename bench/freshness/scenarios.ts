/**
 * The freshness harness's scenarios as data: what the writer does, when, for how long.
 */

export const SCENARIO_NAMES = ['per-minute', 'per-10s', 'per-second', 'burst', 'progress-noise', 'quiet'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** One write, at `offsetMs` after the scenario starts: a change (its kind chosen in turn) or a progress-only write. */
export interface PlannedWrite {
  readonly offsetMs: number;
  readonly what: 'change' | 'progress';
}

interface ScenarioSpec {
  readonly description: string;
  /** Default length (s); `--quick` gives every scenario QUICK_SECONDS. */
  readonly seconds: number;
  writes(durationMs: number): PlannedWrite[];
}

/** Writes every `everyMs` from `firstMs` while within the duration. */
function every(what: PlannedWrite['what'], everyMs: number, firstMs: number) {
  return (durationMs: number): PlannedWrite[] => {
    const writes: PlannedWrite[] = [];
    for (let offsetMs = firstMs; offsetMs < durationMs; offsetMs += everyMs) writes.push({ offsetMs, what });
    return writes;
  };
}

export const SCENARIOS: Readonly<Record<ScenarioName, ScenarioSpec>> = {
  'per-minute': { description: 'one change a minute', seconds: 300, writes: every('change', 60_000, 2_000) },
  'per-10s': { description: 'one change every 10 s', seconds: 180, writes: every('change', 10_000, 2_000) },
  'per-second': { description: 'one change a second', seconds: 120, writes: every('change', 1_000, 1_000) },
  // 100 changes within one second, once, then nothing: how many runs they cost, and how long the last one takes.
  burst: { description: 'a burst of 100 changes in a second', seconds: 60, writes: (durationMs) => every('change', 10, 2_000)(Math.min(durationMs, 3_000)) },
  'progress-noise': { description: 'progress-only writes, 10 a second (no change)', seconds: 120, writes: every('progress', 100, 0) },
  quiet: { description: 'nothing written', seconds: 180, writes: () => [] },
};

/** Every scenario's length with `--quick`: a smoke run of about a minute and a half a contender. */
export const QUICK_SECONDS = 10;

/** The changes a list of scenarios commits, to prepare enough running runs to finish. */
export function plannedChanges(plan: ReadonlyArray<{ readonly name: ScenarioName; readonly durationMs: number }>): number {
  return plan.reduce((sum, { name, durationMs }) => sum + SCENARIOS[name].writes(durationMs).filter((write) => write.what === 'change').length, 0);
}
