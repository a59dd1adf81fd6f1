/**
 * The pass: one binary COPY of the `execution` columns the plan needs, decoded row by row
 * into numbers and folded into every fold in the same loop. No row is kept. The pass
 * knows the folds' inputs (windows, tiers, filters), nothing about payloads.
 */
import type { Db } from '../io/db.js';
import { BinaryCopyParser } from './copy-parser.js';
import { type CopyPool, type CopyStatements, copyColumns, queryCopy, tableCopy } from './copy.js';
import { StatusDictionary } from './dictionary.js';
import { ScriptTierFold, type ScriptTotals } from './folds/script-tiers.js';
import { StartHourFold, type StartHours } from './folds/start-hours.js';
import { TimelineFold, type TimelineRow } from './folds/timeline.js';
import { type UserRuns, UserRunsFold } from './folds/user-runs.js';
import { type LoadPlan, type SeriesTier, seriesTiers, startCuts } from './plan.js';
import { type ExecutionRow, RowBatch, StatusKinds } from './rows.js';
import { type ScriptCatalog, ScriptIndex } from './scripts.js';

/** The columns of `execution` a plan reads: a family alone reads only its own. */
export interface ExecutionColumns {
  readonly start_date: boolean;
  readonly end_date: boolean;
  readonly status: boolean;
  readonly script_id: boolean;
  readonly user_id: boolean;
}

export function executionColumns(plan: LoadPlan): ExecutionColumns {
  const counts = plan.scriptWindows.length > 0;
  const any = (...needs: ReadonlyArray<readonly unknown[]>) => needs.some((need) => need.length > 0);
  return {
    start_date: any(plan.scriptWindows, plan.hourWindows, plan.series, plan.topUsers, plan.activity),
    end_date: any(plan.series) || (counts && plan.durations),
    status: any(plan.scriptWindows, plan.series, plan.topUsers),
    script_id: any(plan.series, plan.topUsers) || (counts && plan.byScript),
    user_id: any(plan.topUsers, plan.activity),
  };
}

/** The COPY of the columns (the SELECT built and compiled with Kysely), and their order. */
export function executionCopy(db: Db, columns: ExecutionColumns): { statements: CopyStatements; fields: Array<keyof ExecutionColumns> } {
  const fields = (Object.keys(columns) as Array<keyof ExecutionColumns>).filter((column) => columns[column]);
  const query = queryCopy(db.selectFrom('execution').select(fields).compile());
  return { statements: { table: tableCopy('execution', fields), query }, fields };
}

/** What the pass kept, by fold; a fold the plan did not ask for is null. */
export interface ExecutionPass {
  readonly scripts: ScriptIndex;
  /** The instants start tiers are cut at (see startCuts). */
  readonly cuts: readonly number[];
  readonly scriptTotals: ScriptTotals | null;
  readonly startHours: StartHours | null;
  readonly seriesTiers: readonly SeriesTier[];
  readonly timeline: readonly TimelineRow[] | null;
  /** Per-user counts; `plan.topUsers[i]` is need i. */
  readonly users: UserRuns | null;
  readonly bytes: number;
}

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** The filter index of a task_type: 0 for none, 1 + its position in plan.taskTypes. */
export function filterIndex(plan: LoadPlan, taskType: string | null): number {
  if (taskType === null) return 0;
  const index = plan.taskTypes.indexOf(taskType);
  if (index < 0) throw new Error(`the task_type filter ${JSON.stringify(taskType)} was not planned`);
  return 1 + index;
}

export async function runExecutionPass(
  db: Db,
  pool: CopyPool,
  plan: LoadPlan,
  catalog: ScriptCatalog,
  signal?: AbortSignal,
): Promise<ExecutionPass> {
  const columns = executionColumns(plan);
  const { statements, fields } = executionCopy(db, columns);
  const field = (name: keyof ExecutionColumns) => fields.indexOf(name);
  const [startField, endField, statusField, scriptField, userField] = [
    field('start_date'), field('end_date'), field('status'), field('script_id'), field('user_id'),
  ];

  const scripts = new ScriptIndex(catalog);
  const statuses = new StatusDictionary();
  const kinds = new StatusKinds(statuses);
  const cuts = startCuts(plan);
  const tierCount = cuts.length + 1;

  const scriptFold =
    plan.scriptWindows.length > 0 ? new ScriptTierFold(tierCount, kinds, () => scripts.dictionary.size, plan.durations) : null;
  const hourFold =
    plan.hourWindows.length > 0 ? new StartHourFold(tierCount, Math.min(...plan.hourWindows), Math.max(plan.now, ...plan.hourWindows)) : null;
  const timelineTiers = seriesTiers(plan.series);
  const timelineFold =
    timelineTiers.length > 0
      ? new TimelineFold(timelineTiers, kinds, (script) => scripts.classOf(script), scripts.classes, (status) => statuses.names[status] ?? null)
      : null;
  const needsOfScript = catalog.ids.map(
    (_, script) =>
      Int32Array.from(plan.topUsers.flatMap((need, index) => (scripts.matches(script, filterIndex(plan, need.taskType)) ? [index] : []))),
  );
  const noNeeds = new Int32Array(0);
  const userFold =
    plan.topUsers.length > 0 || plan.activity.length > 0
      ? new UserRunsFold(
          plan.topUsers.map((need) => ({ cutoff: need.since })),
          (script) => needsOfScript[script] ?? noNeeds,
          kinds,
        )
      : null;

  const row: ExecutionRow = { start: NaN, end: NaN, startExact: null, endExact: null, status: 0, script: -1, user: -1, startTier: 0 };
  const batch = new RowBatch();
  const flush = () => {
    userFold?.resolve(batch);
    for (let index = 0; index < batch.size; index++) {
      batch.load(index, row, cuts);
      // One call site per fold keeps each call monomorphic (inlined), where a loop over them would not be.
      scriptFold?.add(row);
      hourFold?.add(row);
      timelineFold?.add(row);
      userFold?.add(row);
    }
    batch.size = 0;
  };
  const parser = new BinaryCopyParser(fields.length, (tuple) => {
    const at = batch.size++;
    if (startField >= 0) {
      const start = tuple.int8(startField);
      batch.start[at] = start;
      batch.startExact[at] = (start > MAX_EXACT || start < -MAX_EXACT) && Number.isFinite(start) ? tuple.int8Exact(startField) : null;
    }
    if (endField >= 0) {
      const end = tuple.int8(endField);
      batch.end[at] = end;
      batch.endExact[at] = (end > MAX_EXACT || end < -MAX_EXACT) && Number.isFinite(end) ? tuple.int8Exact(endField) : null;
    }
    if (statusField >= 0) batch.status[at] = statuses.indexOf(tuple, statusField);
    if (scriptField >= 0) batch.script[at] = tuple.isNull(scriptField) ? -1 : scripts.dictionary.indexOf(tuple, scriptField);
    if (userField >= 0) {
      const hasUser = !tuple.isNull(userField);
      batch.hasUser[at] = hasUser ? 1 : 0;
      if (hasUser) for (let word = 0; word < 4; word++) batch.userWords[4 * at + word] = tuple.word(userField, word);
    }
    if (batch.size === RowBatch.SIZE) flush();
  });
  const { bytes } = await copyColumns(pool, statements, parser, signal);
  flush();
  return {
    scripts,
    cuts,
    scriptTotals: scriptFold?.result() ?? null,
    startHours: hourFold?.result() ?? null,
    seriesTiers: timelineTiers,
    timeline: timelineFold?.result() ?? null,
    users: userFold?.result() ?? null,
    bytes,
  };
}
