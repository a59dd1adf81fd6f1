/**
 * The pass: one binary COPY of the `execution` columns the plan needs, decoded row by row
 * into numbers and folded into every source in the same loop. No row is kept. The pass
 * knows the folds' inputs (periods, tiers, filters), nothing about payloads.
 */
import type { Db } from '../io/db.js';
import { microsOf } from '../lib/micros.js';
import { lastTierOf, type RunPlan, type SeriesTier, seriesTiers, startCuts, type TopUsersNeed } from '../plan.js';
import { BinaryCopyParser } from './copy-parser.js';
import { type CopyPool, type CopyStatements, copyColumns, queryCopy, tableCopy } from './copy.js';
import { StatusDictionary } from './dictionary.js';
import { ScriptTierFold, type ScriptTotals } from './folds/script-tiers.js';
import { type HourRow, StartHourFold } from './folds/start-hours.js';
import { TimelineFold, type TimelineRow } from './folds/timeline.js';
import { type UserRuns, UserRunsFold } from './folds/user-runs.js';
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

export function executionColumns(plan: RunPlan): ExecutionColumns {
  const any = (...needs: ReadonlyArray<readonly unknown[]>) => needs.some((need) => need.length > 0);
  return {
    start_date: any(plan.summary, plan.trends, plan.tasks, plan.timeSeries, plan.topUsers, plan.performance, plan.activity),
    end_date: any(plan.timeSeries, plan.performance),
    status: any(plan.summary, plan.tasks, plan.timeSeries, plan.topUsers, plan.performance),
    script_id: any(plan.tasks, plan.timeSeries, plan.topUsers, plan.performance),
    user_id: any(plan.topUsers, plan.activity),
  };
}

/** Whether a plan reads `execution` at all. */
export function readsExecutions(plan: RunPlan): boolean {
  return Object.values(executionColumns(plan)).some(Boolean);
}

/** The COPY of the columns (the SELECT built and compiled with Kysely), and their order. */
export function executionCopy(db: Db, columns: ExecutionColumns): { statements: CopyStatements; fields: Array<keyof ExecutionColumns> } {
  const fields = (Object.keys(columns) as Array<keyof ExecutionColumns>).filter((column) => columns[column]);
  const query = queryCopy(db.selectFrom('execution').select(fields).compile());
  return { statements: { table: tableCopy('execution', fields), query }, fields };
}

/** The windows the trends of the planned periods need, with their starts (µs). */
export function trendWindows(plan: RunPlan): Map<string, number> {
  const windows = new Map<string, number>([['monthly', plan.monthlyWindowStart]]);
  if (plan.trends.some((period) => period === 'last_day' || period === 'all')) windows.set('hourly', plan.hourlyWindowStart);
  for (const period of plan.trends) {
    const cutoff = plan.cutoffs[period];
    if (cutoff !== null) windows.set(period, cutoff);
  }
  return windows;
}

export interface ExecutionPass {
  readonly scripts: ScriptIndex;
  /** Per script and period (summary, tasks, task performance); null when not planned. */
  readonly scriptTotals: ScriptTotals[] | null;
  /** Executions per start hour in the trends' windows; null when not planned. */
  readonly hours: HourRow[] | null;
  readonly timelineTiers: readonly SeriesTier[];
  readonly timeline: TimelineRow[] | null;
  /** Per-user counts; `plan.topUsers[i]` is need i. Null when neither top users nor activity are planned. */
  readonly users: UserRuns | null;
  readonly rows: number;
  readonly bytes: number;
}

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** The filter index of a top-users need: 0 for none, 1 + position in plan.taskTypes. */
function filterOf(plan: RunPlan, need: TopUsersNeed): number {
  return need.taskType === null ? 0 : 1 + plan.taskTypes.indexOf(need.taskType);
}

export async function runExecutionPass(
  db: Db,
  pool: CopyPool,
  plan: RunPlan,
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
  const lastTier = (period: keyof RunPlan['cutoffs']) => lastTierOf(cuts, plan.cutoffs[period]);

  const scriptPeriods = [...new Set([...plan.summary, ...plan.tasks, ...plan.performance])];
  const scriptFold =
    scriptPeriods.length > 0
      ? new ScriptTierFold(
          tierCount,
          kinds,
          (script) => scripts.slugOf(script),
          () => scripts.dictionary.size,
          scriptPeriods.map((period) => [period, lastTier(period)] as const),
          plan.performance.length > 0,
        )
      : null;
  const hourFold =
    plan.trends.length > 0
      ? new StartHourFold(
          tierCount,
          plan.monthlyWindowStart,
          microsOf(plan.now),
          new Map([...trendWindows(plan)].map(([name, start]) => [name, lastTierOf(cuts, start)])),
        )
      : null;
  const timelineTiers = seriesTiers(plan.timeSeries, plan.cutoffs);
  const timelineFold =
    timelineTiers.length > 0
      ? new TimelineFold(timelineTiers, kinds, (script) => scripts.classOf(script), scripts.classes, (status) => statuses.names[status] ?? null)
      : null;
  const needsOfScript = catalog.ids.map(
    (_, script) => Int32Array.from(plan.topUsers.flatMap((need, index) => (scripts.matches(script, filterOf(plan, need)) ? [index] : []))),
  );
  const noNeeds = new Int32Array(0);
  const userFold =
    plan.topUsers.length > 0 || plan.activity.length > 0
      ? new UserRunsFold(
          plan.topUsers.map((need) => ({ cutoff: plan.cutoffs[need.period] })),
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
  const { rows, bytes } = await copyColumns(pool, statements, parser, signal);
  flush();
  return {
    scripts,
    scriptTotals: scriptFold?.result() ?? null,
    hours: hourFold?.result() ?? null,
    timelineTiers,
    timeline: timelineFold?.result() ?? null,
    users: userFold?.result() ?? null,
    rows,
    bytes,
  };
}
