/**
 * The pass: one binary COPY of the `execution` columns the plan needs, decoded a batch of
 * rows at a time into columns of numbers and folded into every fold, each in its own loop
 * over the batch. No row is kept, save each row's (user, script) pair while top users are
 * planned: their favourite tasks are counted from those once the ranking is known. The pass
 * knows the folds' inputs (windows, tiers, filters), nothing about payloads.
 */
import type { Db } from '../io/db.js';
import { BinaryCopyParser, type TupleBatch } from './copy-parser.js';
import { type CopyPool, type CopyStatements, copyColumns, queryCopy, tableCopy } from './copy.js';
import { TextDictionary } from './dictionary.js';
import { ScriptTierFold, type ScriptTotals } from './folds/script-tiers.js';
import { StartHourFold, type StartHours } from './folds/start-hours.js';
import { type Timeline, TimelineFold } from './folds/timeline.js';
import { type FiltersByScript, type RankedUser, type UserRuns, UserRunsFold } from './folds/user-runs.js';
import { UserScriptLog } from './folds/user-scripts.js';
import { type LoadPlan, lastTierOf, type SeriesTier, seriesTiers, type Since, startCuts, userCuts } from './plan.js';
import { ExecutionBatch, StatusKinds } from './rows.js';
import { type ScriptRows, ScriptIndex } from './scripts.js';

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

/** A user's executions per script index over all time (scripts with none left out). */
export type ScriptRuns = ReadonlyArray<{ readonly script: number; readonly count: number }>;

/** What the pass kept, by fold; a fold the plan did not ask for is null. */
export interface ExecutionPass {
  readonly scripts: ScriptIndex;
  /** The instants start tiers are cut at (see startCuts). */
  readonly cuts: readonly number[];
  readonly scriptTotals: ScriptTotals | null;
  readonly startHours: StartHours | null;
  readonly seriesTiers: readonly SeriesTier[];
  readonly timeline: Timeline | null;
  /** Per-user counts, by user tier (cut at `userCuts`) and filter (`userFilters`: the top users' task_type filters). */
  readonly users: UserRuns | null;
  readonly userCuts: readonly number[];
  readonly userFilters: ReadonlyArray<string | null>;
  /** The executions per script of every user ranked in a planned top list, by user number. */
  readonly favourites: ReadonlyMap<number, ScriptRuns>;
  /** Every status the rows hold (NULL left out); empty when the status column was not read. */
  readonly statuses: readonly string[];
  readonly bytes: number;
}

/** The filter index of a task_type: 0 for none, 1 + its position in plan.taskTypes. */
export function filterIndex(plan: LoadPlan, taskType: string | null): number {
  if (taskType === null) return 0;
  const index = plan.taskTypes.indexOf(taskType);
  if (index < 0) throw new Error(`the task_type filter ${JSON.stringify(taskType)} was not planned`);
  return 1 + index;
}

/** The users with most executions started since `since` of scripts matching `taskType` (see UserRuns.top). */
export function rankUsers(
  pass: Pick<ExecutionPass, 'userCuts' | 'userFilters'> & { readonly users: UserRuns },
  since: Since,
  taskType: string | null,
  limit: number,
): RankedUser[] {
  const filter = pass.userFilters.indexOf(taskType);
  if (filter < 0) throw new Error(`top users with the task_type filter ${JSON.stringify(taskType)} were not planned`);
  return pass.users.top(filter, lastTierOf(pass.userCuts, since), limit);
}

/** The users ranked in some planned top list, each once. */
export function rankedUsers(plan: LoadPlan, pass: Parameters<typeof rankUsers>[0]): number[] {
  return [...new Set(plan.topUsers.flatMap((need) => rankUsers(pass, need.since, need.taskType, need.limit).map((ranked) => ranked.user)))];
}

/** For each script row, the filters (indexes in `filters`) it matches. */
function filtersByScript(plan: LoadPlan, scripts: ScriptIndex, filters: ReadonlyArray<string | null>): FiltersByScript {
  const first = new Int32Array(scripts.rows.ids.length + 1);
  const list: number[] = [];
  scripts.rows.ids.forEach((_, script) => {
    filters.forEach((taskType, index) => {
      if (scripts.matches(script, filterIndex(plan, taskType))) list.push(index);
    });
    first[script + 1] = list.length;
  });
  return { first, list: Int32Array.from(list) };
}

/** Rows the pass folds at most: its counters are int32. */
const MAX_ROWS = 2 ** 31 - 1;

/** Bits that number `count` things (at least 8). */
const bitsFor = (count: number) => Math.max(8, Math.ceil(Math.log2(count + 1)));

/**
 * Every fold a plan asks for, over the scripts given: rows go in a batch at a time (`fold`),
 * from the COPY below or from rows kept in memory (src/state/), and `result` is the pass.
 */
export class ExecutionFolds {
  readonly scripts: ScriptIndex;
  readonly statuses = new TextDictionary();
  readonly kinds = new StatusKinds(this.statuses);
  /** The start cuts (see startCuts), newest first. */
  readonly cuts: Float64Array;
  /** Rows folded per status index (signed folds): a status whose rows were all taken out is no longer listed. */
  private rowsByStatus = new Float64Array(8);
  private readonly scriptFold: ScriptTierFold | null;
  private readonly hourFold: StartHourFold | null;
  private timelineTiers: SeriesTier[];
  private readonly timelineFold: TimelineFold | null;
  private userTierCuts: number[];
  private readonly userFilters: Array<string | null>;
  private readonly userFold: UserRunsFold | null;
  private readonly pairs: UserScriptLog | null;
  private currentPlan: LoadPlan;

  constructor(
    plan: LoadPlan,
    scriptRows: ScriptRows,
    /** Whether rows may be taken out (batches of weight -1) and the folds moved on (see moveTo): a pass kept between runs. */
    readonly signed = false,
  ) {
    this.currentPlan = plan;
    const scripts = new ScriptIndex(scriptRows);
    this.scripts = scripts;
    this.cuts = Float64Array.from(startCuts(plan));
    const tierCount = this.tierCount;
    this.scriptFold = plan.scriptWindows.length > 0 ? new ScriptTierFold(tierCount, () => scripts.dictionary.size, plan.durations, signed) : null;
    this.hourFold =
      plan.hourWindows.length > 0 ? new StartHourFold(tierCount, Math.min(...plan.hourWindows), Math.max(plan.now, ...plan.hourWindows)) : null;
    this.timelineTiers = seriesTiers(plan.series);
    this.timelineFold =
      this.timelineTiers.length > 0 ? new TimelineFold(this.timelineTiers, scripts.classByScript, scripts.classes, () => this.statuses.names) : null;
    this.userTierCuts = userCuts(plan);
    this.userFilters = [...new Set(plan.topUsers.map((need) => need.taskType))];
    const cuts = this.cuts;
    // Start tier t holds starts before cuts[t - 1]: its user tier counts the user cuts among those.
    const tierOfStartTier = Int32Array.from({ length: tierCount }, (_, tier) => this.userTierCuts.filter((cut) => cuts.indexOf(cut) < tier).length);
    this.userFold =
      plan.topUsers.length > 0 || plan.activity.length > 0
        ? new UserRunsFold(tierOfStartTier, this.userTierCuts.length + 1, this.userFilters.length, filtersByScript(plan, scripts, this.userFilters), undefined, signed)
        : null;
    this.pairs = plan.topUsers.length > 0 ? new UserScriptLog(bitsFor(scriptRows.ids.length)) : null;
  }

  /** The plan the folds hold the rows for (see moveTo). */
  get plan(): LoadPlan {
    return this.currentPlan;
  }

  /** Start tiers: one per cut, and the last for older and NULL starts. */
  get tierCount(): number {
    return this.cuts.length + 1;
  }

  /** Folds one batch of decoded rows (their start tiers set) into every fold. */
  fold(batch: ExecutionBatch): void {
    if (batch.weight < 0 && !this.signed) throw new Error('rows can only be taken out of signed folds');
    // One call site per fold keeps each call monomorphic (inlined), where a loop over them would not be.
    this.scriptFold?.add(batch);
    this.hourFold?.add(batch);
    this.timelineFold?.add(batch);
    if (this.userFold) {
      this.userFold.resolve(batch);
      this.userFold.add(batch);
    }
    this.pairs?.add(batch);
    if (this.signed) this.countStatuses(batch);
  }

  private countStatuses(batch: ExecutionBatch): void {
    const { size, status, weight } = batch;
    let counts = this.rowsByStatus;
    if (this.statuses.names.length > counts.length) {
      counts = new Float64Array(2 * this.statuses.names.length);
      counts.set(this.rowsByStatus);
      this.rowsByStatus = counts;
    }
    for (let row = 0; row < size; row++) counts[status[row]!]! += weight;
  }

  /**
   * Holds the rows for `plan` instead, a plan of the same shape a little later (see
   * `planShape` in src/state/kept-passes.ts): every row whose tiers differ between the two plans must
   * have been taken out (a batch of weight -1) before, and be added after.
   */
  moveTo(plan: LoadPlan): void {
    this.currentPlan = plan;
    this.cuts.set(startCuts(plan));
    this.hourFold?.moveTo(Math.min(...plan.hourWindows), Math.max(plan.now, ...plan.hourWindows));
    this.timelineTiers = seriesTiers(plan.series);
    this.timelineFold?.moveTo(this.timelineTiers);
    this.userTierCuts = userCuts(plan);
  }

  /** Pairs the favourites' log holds, and of those taken out (see UserScriptLog.pairs). */
  get loggedPairs(): { readonly logged: number; readonly removed: number } {
    return this.pairs?.pairs ?? { logged: 0, removed: 0 };
  }

  /**
   * What the folds kept; `statuses` lists every status met, NULL left out (empty when the
   * status column was not read). `snapshot`: a pass that later batches leave as it is (the
   * folds are kept and moved on), at the cost of copying what a section reads lazily.
   */
  result(bytes: number, snapshot = false): ExecutionPass {
    const { plan, userTierCuts, userFilters, pairs } = this;
    const scriptFold = snapshot ? (this.scriptFold?.snapshot() ?? null) : this.scriptFold;
    const hourFold = snapshot ? (this.hourFold?.snapshot() ?? null) : this.hourFold;
    const rankings = plan.topUsers.map((need) => ({ filter: userFilters.indexOf(need.taskType), limit: need.limit }));
    const users = (snapshot ? this.userFold?.frozenResult(rankings) : this.userFold?.result()) ?? null;
    // Counted now, from the log as it is: no snapshot of it is needed.
    const favourites =
      users && pairs ? pairs.result().countsOf(rankedUsers(plan, { users, userCuts: userTierCuts, userFilters })) : new Map<number, ScriptRuns>();
    return {
      scripts: this.scripts,
      cuts: [...this.cuts],
      scriptTotals: scriptFold?.result() ?? null,
      startHours: hourFold?.result() ?? null,
      seriesTiers: this.timelineTiers,
      timeline: (snapshot ? this.timelineFold?.snapshot() : this.timelineFold?.result()) ?? null,
      users,
      userCuts: userTierCuts,
      userFilters,
      favourites,
      statuses: this.statuses.names.filter((name, index): name is string => name !== null && (!this.signed || this.rowsByStatus[index]! > 0)),
      bytes,
    };
  }
}

/** Every int32 counter of the folds holds while the rows folded stay below this. */
export function checkRowCount(rows: number): void {
  if (rows > MAX_ROWS) throw new Error(`execution has more than ${MAX_ROWS} rows: the pass's int32 counters would overflow`);
}

export async function runExecutionPass(
  db: Db,
  pool: CopyPool,
  plan: LoadPlan,
  scriptRows: ScriptRows,
  signal?: AbortSignal,
): Promise<ExecutionPass> {
  const columns = executionColumns(plan);
  const { statements, fields } = executionCopy(db, columns);
  const field = (name: keyof ExecutionColumns) => fields.indexOf(name);
  const [startField, endField, statusField, scriptField, userField] = [
    field('start_date'), field('end_date'), field('status'), field('script_id'), field('user_id'),
  ];
  const folds = new ExecutionFolds(plan, scriptRows);
  const batch = new ExecutionBatch();
  const decode = (tuples: TupleBatch) => {
    checkRowCount(parser.rows);
    batch.begin(tuples.size);
    if (startField >= 0) batch.decodeStart(tuples, startField, folds.cuts);
    else batch.startTierless(folds.tierCount);
    if (endField >= 0) batch.decodeEnd(tuples, endField);
    if (statusField >= 0) batch.decodeStatus(tuples, statusField, folds.statuses, folds.kinds);
    if (scriptField >= 0) batch.decodeScript(tuples, scriptField, folds.scripts.dictionary);
    if (userField >= 0) batch.decodeUser(tuples, userField);
    folds.fold(batch);
  };
  const parser = new BinaryCopyParser(fields.length, decode);
  const { bytes } = await copyColumns(pool, statements, parser, signal);
  return folds.result(bytes);
}
