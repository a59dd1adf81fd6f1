/**
 * What differs between the rows kept in memory and a fresh read of the same tables: the
 * reconciliation's verdict (memory-state.ts). Counted per table and column, never listing a
 * value (user ids and countries stay out of logs).
 */
import type { ExecutionRows, ExecutionRowValues } from './execution-rows.js';
import type { UserRows, UserRowValues } from './user-rows.js';

export interface TableDiff {
  /** Rows the fresh load has and memory lacks, and the other way round. */
  readonly missing: number;
  readonly extra: number;
  /** Rows in both whose value differs, by column. */
  readonly columns: Readonly<Record<string, number>>;
  /** Rows that differ in any way. */
  readonly rows: number;
}

export interface StateDiff {
  readonly executions: TableDiff;
  readonly users: TableDiff;
}

interface Keyed<Values> {
  readonly count: number;
  valuesOf(row: number): Values;
  rowOf(id: string): number;
}

/** Each row of `fresh` against the row of its id in `kept`: missing from it, or differing by column; `extra`: kept's rows fresh lacks. */
function diffRows<Values extends { readonly id: string }>(kept: Keyed<Values>, fresh: Keyed<Values>, columns: ReadonlyArray<keyof Values>, extra: number): TableDiff {
  const byColumn: Record<string, number> = {};
  let missing = 0;
  let differing = 0;
  for (let row = 0; row < fresh.count; row++) {
    const want = fresh.valuesOf(row);
    const at = kept.rowOf(want.id);
    if (at < 0) {
      missing++;
      continue;
    }
    const have = kept.valuesOf(at);
    const changed = columns.filter((column) => !Object.is(have[column], want[column]));
    for (const column of changed) byColumn[String(column)] = (byColumn[String(column)] ?? 0) + 1;
    if (changed.length > 0) differing++;
  }
  return { missing, extra, columns: byColumn, rows: missing + extra + differing };
}

function diffTable<Values extends { readonly id: string }>(kept: Keyed<Values>, fresh: Keyed<Values>, columns: ReadonlyArray<keyof Values>): TableDiff {
  let extra = 0;
  for (let row = 0; row < kept.count; row++) if (fresh.rowOf(kept.valuesOf(row).id) < 0) extra++;
  return diffRows(kept, fresh, columns, extra);
}

const EXECUTION_COLUMNS = ['start', 'end', 'status', 'script', 'user'] as const;

/**
 * The verdict on `execution` when it was compared as the fresh read streamed (memory-state.ts):
 * `differing` holds the fresh rows memory lacked or held otherwise (brought to the same instant
 * as memory by the read of the changed rows), `extra` counts memory's rows the read did not hold.
 */
export function diffExecutionsInPlace(kept: ExecutionRows, differing: ExecutionRows, extra: number): TableDiff {
  return diffRows<ExecutionRowValues>(kept, differing, EXECUTION_COLUMNS, extra);
}

/** The verdict on `"user"`, compared with a fresh load of it. */
export function diffUsers(kept: UserRows, fresh: UserRows): TableDiff {
  return diffTable<UserRowValues>(kept, fresh, ['country', 'createdAt']);
}

/** Rows that differ, both tables. */
export function mismatchesOf(diff: StateDiff): number {
  return diff.executions.rows + diff.users.rows;
}
