/**
 * What differs between the rows kept in memory and a fresh load of the same tables: the
 * reconciliation's verdict. Counted per table and column, never listing a value (user ids
 * and countries stay out of logs).
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

function diffTable<Values extends { readonly id: string }>(kept: Keyed<Values>, fresh: Keyed<Values>, columns: ReadonlyArray<keyof Values>): TableDiff {
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
  let extra = 0;
  for (let row = 0; row < kept.count; row++) if (fresh.rowOf(kept.valuesOf(row).id) < 0) extra++;
  return { missing, extra, columns: byColumn, rows: missing + extra + differing };
}

export function diffStates(
  kept: { readonly executions: ExecutionRows; readonly users: UserRows },
  fresh: { readonly executions: ExecutionRows; readonly users: UserRows },
): StateDiff {
  return {
    executions: diffTable<ExecutionRowValues>(kept.executions, fresh.executions, ['start', 'end', 'status', 'script', 'user']),
    users: diffTable<UserRowValues>(kept.users, fresh.users, ['country', 'createdAt']),
  };
}

/** Rows that differ, both tables. */
export function mismatchesOf(diff: StateDiff): number {
  return diff.executions.rows + diff.users.rows;
}
