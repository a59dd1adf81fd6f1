/**
 * The execution passes kept between runs, one per plan shape (the last few): instead of
 * replaying every row for each run, a kept pass takes out what changed since it last ran and
 * puts it back as it is now, so a run costs work in proportion to the rows that changed and
 * the rows a window's edge passed, not to the table.
 *
 * Two plans have the same shape when they differ only in their instants: the same sections
 * at another `now` (see planShape). Moving a pass from one to the other (`moveOn`):
 * 1. the rows whose tiers differ between the two plans, those whose start (or time series
 *    event) lies between a cut's old and new instant, and the rows changed since (with their
 *    values then, from the rows' journal) are taken out under the old plan;
 * 2. the folds move to the new plan;
 * 3. those rows are added again as they are now.
 * A row in no such range has the same tiers under both plans, so the folds then hold what a
 * fresh fold of the rows under the new plan holds. Anything else (another shape, a plan
 * earlier than the pass, the script table changed, rows reloaded, the journal outrun) replays.
 *
 * Each pass handed out carries a content version (`VersionedPass`): a new one whenever the
 * folds' content can have changed (a replay, fed folds, a move that fed at least one row), the
 * same after a move that fed none: the folds then hold exactly the rows, in the same tiers, they
 * held (only the instants of the cuts moved), so what is computed from them alone is the same.
 */
import { type ExecutionColumns, executionColumns, ExecutionFolds, type ExecutionPass } from '../pass/execution-pass.js';
import { type LoadPlan, seriesTiers, type Since, startCuts } from '../pass/plan.js';
import type { ScriptRows } from '../pass/scripts.js';
import type { ExecutionRows } from './execution-rows.js';

/** How a pass was made: the folds a reload fed, a replay of every row, or a kept pass moved on. */
export type PassKind = 'fed' | 'replayed' | 'moved';

/**
 * A pass and its content version: two passes of one KeptPasses with the same version hold the
 * same rows in the same tiers, of the same plan shape and script table (see KeptPasses.passFor).
 */
export type VersionedPass = ExecutionPass & { readonly version: number };

/** Shapes kept at most (a run's plan, and a learned, ad-hoc or drift plan or two beside it). */
const SHAPES = 4;

/** Pairs taken out of the favourites' log past which a kept pass is replayed instead (its log only grows). */
const WORN_PAIRS = 1 << 16;

interface KeptPass {
  readonly folds: ExecutionFolds;
  readonly rows: ExecutionRows;
  /** Where in the rows' journal the folds stand. */
  position: number;
  /** The folds' content version (see VersionedPass). */
  version: number;
}

/**
 * What makes two plans fold alike, instants left out: the sections' flags and filters, and
 * each window as the index of its cut (so the tiers, their order and which windows share one
 * are the same).
 */
export function planShape(plan: LoadPlan): string {
  const cuts = startCuts(plan);
  const cutOf = (since: Since) => (since === null ? null : cuts.indexOf(since));
  const froms = seriesTiers(plan.series).map((tier) => tier.from);
  return JSON.stringify({
    sources: [...plan.sources].sort(),
    cuts: cuts.length,
    scriptWindows: plan.scriptWindows.map(cutOf),
    byScript: plan.byScript,
    durations: plan.durations,
    hourWindows: plan.hourWindows.map(cutOf),
    series: plan.series.map((need) => [need.since === null ? null : froms.indexOf(need.since), need.groupBy]),
    seriesTiers: seriesTiers(plan.series).map((tier) => [tier.from === null, tier.bucket]),
    topUsers: plan.topUsers.map((need) => [cutOf(need.since), need.taskType, need.limit]),
    activity: plan.activity.map(cutOf),
    taskTypes: plan.taskTypes,
    userColumns: plan.userColumns,
  });
}

/** Pairs [old, new) of the instants that moved on, or null when one moved back. */
function movedInstants(before: ReadonlyArray<number | null>, after: ReadonlyArray<number | null>): Array<[number, number]> | null {
  const ranges: Array<[number, number]> = [];
  for (let index = 0; index < before.length; index++) {
    const [from, to] = [before[index]!, after[index]!];
    if (from === null || to === null) {
      if (from !== to) return null;
      continue;
    }
    if (to < from) return null;
    if (to > from) ranges.push([from, to]);
  }
  return ranges;
}

const sameList = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>) => a.length === b.length && a.every((item, index) => item === b[index]);

/** Whether two reads of the script table hold the same rows (each run reads it afresh). */
function sameScripts(a: ScriptRows, b: ScriptRows): boolean {
  return a === b || (sameList(a.ids, b.ids) && sameList(a.slugs, b.slugs) && a.matches.length === b.matches.length && a.matches.every((column, filter) => sameList(column, b.matches[filter]!)));
}

export class KeptPasses {
  /** By plan shape, least recently used first. */
  private readonly byShape = new Map<string, KeptPass>();
  /** The last content version given out: each new content takes the next. */
  private lastVersion = 0;

  /** Drops every kept pass (the rows they follow are about to be replaced); versions go on from the last. */
  clear(): void {
    this.byShape.clear();
  }

  /**
   * The pass for `plan` over `rows`, and how it was made: `fed` (folds a reload fed with every
   * row, for this very plan) is kept and answered; else the kept pass of the plan's shape moves
   * on; else every row is replayed into new folds, kept from then on. The pass's version is
   * new unless it is a kept pass moved on without a row fed (none changed or crossed an edge).
   */
  passFor(plan: LoadPlan, scripts: ScriptRows, rows: ExecutionRows, fed: ExecutionFolds | null): { pass: VersionedPass; kind: PassKind } {
    for (const [shape, kept] of this.byShape) if (kept.rows !== rows) this.byShape.delete(shape);
    const shape = planShape(plan);
    const kept = this.byShape.get(shape);
    let folds: ExecutionFolds;
    let kind: PassKind;
    let rowsFed = 0;
    if (fed && fed.signed && fed.plan === plan && fed.scripts.rows === scripts) {
      [folds, kind] = [fed, 'fed'];
    } else if (kept && this.canMove(kept, plan, scripts)) {
      rowsFed = this.moveOn(kept, plan);
      [folds, kind] = [kept.folds, 'moved'];
    } else {
      folds = new ExecutionFolds(plan, scripts, true);
      rows.replay(folds, executionColumns(plan));
      kind = 'replayed';
    }
    const moved = kept?.folds === folds ? kept : null;
    const version = moved && rowsFed === 0 ? moved.version : ++this.lastVersion;
    this.keep(shape, moved ? Object.assign(moved, { version }) : { folds, rows, position: 0, version });
    return { pass: { ...folds.result(0, true), version }, kind };
  }

  private keep(shape: string, kept: KeptPass): void {
    kept.rows.startJournal();
    kept.position = kept.rows.journalPosition;
    this.byShape.delete(shape);
    this.byShape.set(shape, kept);
    if (this.byShape.size > SHAPES) this.byShape.delete(this.byShape.keys().next().value!);
    kept.rows.forgetBefore(Math.min(...[...this.byShape.values()].map((pass) => pass.position)));
  }

  private canMove(kept: KeptPass, plan: LoadPlan, scripts: ScriptRows): boolean {
    const before = kept.folds.plan;
    const { removed, logged } = kept.folds.loggedPairs;
    return (
      plan.now >= before.now &&
      sameScripts(kept.folds.scripts.rows, scripts) &&
      movedInstants(startCuts(before), startCuts(plan)) !== null &&
      movedInstants(seriesFroms(before), seriesFroms(plan)) !== null &&
      kept.rows.changesSince(kept.position) !== null &&
      !(removed > WORN_PAIRS && 4 * removed > logged)
    );
  }

  /**
   * Takes out the rows that changed or crossed an edge, moves the folds to `plan`, and adds
   * those rows as they are now; returns how many rows were fed (0: the folds hold what they held).
   */
  private moveOn(kept: KeptPass, plan: LoadPlan): number {
    const { folds, rows } = kept;
    const columns: ExecutionColumns = executionColumns(plan);
    const changes = rows.changesSince(kept.position)!;
    const crossing = new Set<number>();
    rows.rowsCrossing(movedInstants(startCuts(folds.plan), startCuts(plan))!, movedInstants(seriesFroms(folds.plan), seriesFroms(plan))!, crossing);
    const moved = [...crossing].filter((row) => !changes.has(row));
    const changedBefore = [...changes].flatMap(([row, before]) => (before === null ? [] : [row]));
    rows.feed(folds, columns, moved, -1);
    rows.feed(folds, columns, changedBefore, -1, changes);
    folds.moveTo(plan);
    rows.feed(folds, columns, [...moved, ...changes.keys()], 1);
    return moved.length + changes.size;
  }
}

const seriesFroms = (plan: LoadPlan) => seriesTiers(plan.series).map((tier) => tier.from);
