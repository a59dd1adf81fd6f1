/**
 * src/state/kept-passes.ts: the content version of the passes handed out. A kept pass moved on
 * with no row fed (none changed, none crossed an edge) keeps its version and holds what it
 * held; a row crossing an edge, a changed row, a replay, fed folds, another plan shape or
 * another script table give a new one.
 */
import { describe, expect, it } from 'vitest';
import { microsOf } from '../../src/lib/micros.js';
import { BinaryCopyParser } from '../../src/pass/copy-parser.js';
import { executionColumns, ExecutionFolds } from '../../src/pass/execution-pass.js';
import type { ScriptRows } from '../../src/pass/scripts.js';
import type { StatsRequest } from '../../src/requests/batches.js';
import { planLoad } from '../../src/stats/sections.js';
import { ExecutionRows } from '../../src/state/execution-rows.js';
import { KeptPasses } from '../../src/state/kept-passes.js';
import { binaryCopy, type CopyValue } from '../helpers/copy-binary.js';

const SCRIPT = '10000000-0000-4000-8000-000000000000';
const USER = '20000000-0000-4000-8000-000000000000';
const idOf = (index: number) => `00000000-0000-4000-8000-${index.toString(16).padStart(12, '0')}`;
const SCRIPTS: ScriptRows = { ids: [SCRIPT], slugs: ['urban-change-1-0'], matches: [] };
const AT = Date.parse('2026-06-15T12:00:00Z');
const SECOND = 1_000;
const HOUR = 3_600_000;
const SUMMARY: StatsRequest = { family: 'dashboard', period: 'last_day', include: ['summary'] };
const EXECUTIONS: StatsRequest = { family: 'executions', period: 'last_week', groupBy: 'day', taskType: null, status: null };

const planAt = (ms: number, request: StatsRequest = SUMMARY) => planLoad([request], new Date(ms));

/** Upserts runs of the one script and user, each started `ago` ms before AT. */
function upsert(rows: ExecutionRows, runs: ReadonlyArray<{ id: number; ago: number; status: string }>): void {
  const micros = (ms: number): CopyValue => ({ int8: BigInt(microsOf(new Date(ms))) });
  const parser = new BinaryCopyParser(6, (tuples) => rows.upsert(tuples));
  parser.write(binaryCopy(runs.map((run) => [{ uuid: idOf(run.id) }, micros(AT - run.ago), null, { text: run.status }, { uuid: SCRIPT }, { uuid: USER }])));
  parser.end();
}

/** Runs started in the last day's window; one of them leaves it 30 s after AT. */
function rowsHeld(): ExecutionRows {
  const rows = new ExecutionRows(16);
  upsert(rows, [
    { id: 1, ago: 2 * HOUR, status: 'FINISHED' },
    { id: 2, ago: 24 * HOUR - 30 * SECOND, status: 'FAILED' },
    { id: 3, ago: 10 * 24 * HOUR, status: 'FINISHED' },
  ]);
  return rows;
}

/** Executions started in the pass's first window (the last day's). */
const lastDay = (pass: ReturnType<KeptPasses['passFor']>['pass']) => pass.scriptTotals!.through(0).reduce((sum, { counts }) => sum + counts.total, 0);

describe('KeptPasses: the content version of a pass', () => {
  it('stays while the pass moves on with no row fed, and moves with a row crossing an edge or changed', () => {
    const kept = new KeptPasses();
    const rows = rowsHeld();
    const first = kept.passFor(planAt(AT), SCRIPTS, rows, null);
    expect(first.kind).toBe('replayed');
    expect(lastDay(first.pass)).toBe(2);

    // The windows' edges moved 1 s and 10 s on: no row crossed one.
    for (const later of [AT + SECOND, AT + 10 * SECOND]) {
      const still = kept.passFor(planAt(later), SCRIPTS, rows, null);
      expect(still.kind).toBe('moved');
      expect(still.pass.version).toBe(first.pass.version);
      expect(lastDay(still.pass)).toBe(2);
    }

    // Run 2 leaves the last day 30 s after AT.
    const crossed = kept.passFor(planAt(AT + 60 * SECOND), SCRIPTS, rows, null);
    expect(crossed.kind).toBe('moved');
    expect(crossed.pass.version).not.toBe(first.pass.version);
    expect(lastDay(crossed.pass)).toBe(1);

    // A row changed (its status), nothing crossed.
    upsert(rows, [{ id: 1, ago: 2 * HOUR, status: 'FAILED' }]);
    const changed = kept.passFor(planAt(AT + 61 * SECOND), SCRIPTS, rows, null);
    expect(changed.kind).toBe('moved');
    expect(changed.pass.version).not.toBe(crossed.pass.version);

    // A row added far outside every window is still a row fed: the version moves (conservative).
    upsert(rows, [{ id: 4, ago: 400 * 24 * HOUR, status: 'FINISHED' }]);
    const added = kept.passFor(planAt(AT + 62 * SECOND), SCRIPTS, rows, null);
    expect(added.pass.version).not.toBe(changed.pass.version);
    expect(kept.passFor(planAt(AT + 63 * SECOND), SCRIPTS, rows, null).pass.version).toBe(added.pass.version);
  });

  it('is new for another plan shape, another script table, a replay and fed folds', () => {
    const kept = new KeptPasses();
    const rows = rowsHeld();
    const seen = new Set<number>();
    const fresh = (version: number) => {
      expect(seen.has(version), `version ${version} given out before`).toBe(false);
      seen.add(version);
    };
    const first = kept.passFor(planAt(AT), SCRIPTS, rows, null);
    fresh(first.pass.version);

    const other = kept.passFor(planAt(AT, EXECUTIONS), SCRIPTS, rows, null);
    expect(other.kind).toBe('replayed');
    fresh(other.pass.version);
    // Each shape keeps its own version while nothing is fed.
    expect(kept.passFor(planAt(AT + SECOND), SCRIPTS, rows, null).pass.version).toBe(first.pass.version);
    expect(kept.passFor(planAt(AT + SECOND, EXECUTIONS), SCRIPTS, rows, null).pass.version).toBe(other.pass.version);

    // The same rows, but a script added to the table: replayed.
    const scripts: ScriptRows = { ids: [SCRIPT, idOf(99)], slugs: ['urban-change-1-0', 'land-cover-1-0'], matches: [] };
    const rescripted = kept.passFor(planAt(AT + 2 * SECOND), scripts, rows, null);
    expect(rescripted.kind).toBe('replayed');
    fresh(rescripted.pass.version);

    // Folds a reload fed, for this very plan.
    const plan = planAt(AT + 3 * SECOND);
    const fed = new ExecutionFolds(plan, scripts, true);
    rows.replay(fed, executionColumns(plan));
    const fromFed = kept.passFor(plan, scripts, rows, fed);
    expect(fromFed.kind).toBe('fed');
    fresh(fromFed.pass.version);

    // Other rows (a reload): every kept pass is dropped and replayed.
    const reloaded = kept.passFor(planAt(AT + 4 * SECOND), scripts, rowsHeld(), null);
    expect(reloaded.kind).toBe('replayed');
    fresh(reloaded.pass.version);
  });
});
