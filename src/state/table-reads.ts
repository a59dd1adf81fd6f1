/**
 * The statements the state reads with: the whole of `execution` and `"user"` (binary COPY,
 * as the pass reads them), and the rows that can have changed since a watermark, by the
 * API's own indexes: executions started or ended at or after it (start_date, end_date),
 * users created at or after it (created_at). A read can also count the table in its own
 * snapshot (insert-account.ts). COPY takes no parameters, so a watermark is inlined as a
 * literal, and only in the one shape the change probe prints it.
 */
import { sql } from 'kysely';
import type { Db } from '../io/db.js';
import { BinaryCopyParser, type TupleBatch } from '../pass/copy-parser.js';
import { type CopyPool, type CopyStatements, copyColumns, queryCopy, tableCopy } from '../pass/copy.js';
import { EXECUTION_FIELDS } from './execution-rows.js';
import { USER_FIELDS } from './user-rows.js';

/** A naive UTC timestamp as the change probe prints it (src/pass/change-probe.ts). */
const WATERMARK = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/;

/** Whether `text` can be inlined as a watermark (anything else reads the whole table). */
export function isWatermark(text: string | null): text is string {
  return text !== null && WATERMARK.test(text);
}

/** The earlier of two watermarks; null (read everything) when either is. The shape sorts as time does. */
export function earlierWatermark(a: string | null, b: string | null): string | null {
  if (!isWatermark(a) || !isWatermark(b)) return null;
  return a < b ? a : b;
}

/** Rows read, rows that were new to the state, and the table's rows in the read's snapshot when asked for. */
export interface ReadCount {
  readonly rows: number;
  readonly added: number;
  readonly tableRows: number | null;
}

/** Where a count row carries its count: a text column (status, country). */
const COUNT_FIELD = { execution: 3, user: 1 } as const;

/**
 * The count row appended to a read: NULL in every column but one text column, which holds
 * count(*) as text. No row of the table has a NULL id, so it cannot be taken for one.
 */
function countRow(table: 'execution' | 'user', fields: number): string {
  const from = table === 'user' ? '"user"' : 'execution';
  const columns = Array.from({ length: fields }, (_, field) => (field === COUNT_FIELD[table] ? `(SELECT count(*) FROM ${from})::text` : 'NULL'));
  return ` UNION ALL SELECT ${columns.join(', ')}`;
}

/** Where a read's rows go: put in place by id, the rows new to it counted. */
export interface Upserting {
  upsert(tuples: TupleBatch, skip?: (tuple: number) => boolean): number;
}

/** Rows going to two stores at once (the same snapshot in both); counts the second's new rows. */
export function intoBoth(first: Upserting, second: Upserting): Upserting {
  return {
    upsert(tuples, skip) {
      first.upsert(tuples, skip);
      return second.upsert(tuples, skip);
    },
  };
}

/** Runs a read into `rows`, the count row (when asked for) taken out. */
async function read(
  pool: CopyPool,
  table: 'execution' | 'user',
  fields: number,
  statements: CopyStatements,
  rows: Upserting,
  signal?: AbortSignal,
): Promise<ReadCount> {
  let added = 0;
  let tableRows: number | null = null;
  const isCount = (tuples: TupleBatch, tuple: number) => tuples.isNull(tuple, 0);
  const parser = new BinaryCopyParser(fields, (tuples) => {
    added += rows.upsert(tuples, (tuple) => {
      if (!isCount(tuples, tuple)) return false;
      tableRows = Number(tuples.text(tuple, COUNT_FIELD[table]));
      return true;
    });
  });
  const { rows: read } = await copyColumns(pool, statements, parser, signal);
  return { rows: read - (tableRows === null ? 0 : 1), added, tableRows };
}

/** The statements of a read of `select`: the whole table in its table form, or the rows since, and the count row. */
function statementsOf(table: 'execution' | 'user', fields: readonly string[], compiled: { sql: string; parameters: readonly unknown[] }, whole: boolean, count: boolean): CopyStatements {
  const query = queryCopy({ sql: compiled.sql + (count ? countRow(table, fields.length) : ''), parameters: compiled.parameters });
  return { table: whole && !count ? tableCopy(table, fields) : null, query };
}

/** The windows an execution read covers: started or ended at or after these (null: every row); strictly after them when `after`. */
export interface ExecutionWindows {
  readonly started: string | null;
  readonly ended: string | null;
  readonly after?: boolean;
}

/** Reads executions into `rows`: those in `since`, or every one when it is null; `count` asks for the table's count too. */
export async function readExecutions(
  db: Db,
  pool: CopyPool,
  rows: Upserting,
  since: ExecutionWindows | null,
  { signal, count = false }: { signal?: AbortSignal; count?: boolean } = {},
): Promise<ReadCount> {
  const whole = since === null || !isWatermark(since.started) || !isWatermark(since.ended);
  const select = db.selectFrom('execution').select([...EXECUTION_FIELDS]);
  const from = sql.raw(since?.after ? '>' : '>=');
  const query = whole
    ? select
    : select.where(sql<boolean>`start_date ${from} ${sql.lit(since.started)}::timestamp OR end_date ${from} ${sql.lit(since.ended)}::timestamp`);
  return read(pool, 'execution', EXECUTION_FIELDS.length, statementsOf('execution', EXECUTION_FIELDS, query.compile(), whole, count), rows, signal);
}

/** Reads users into `rows`: those created at or after the watermark, or every one when it is null. */
export async function readUsers(
  db: Db,
  pool: CopyPool,
  rows: Upserting,
  createdSince: string | null,
  { signal, count = false }: { signal?: AbortSignal; count?: boolean } = {},
): Promise<ReadCount> {
  const whole = !isWatermark(createdSince);
  const select = db.selectFrom('user').select([...USER_FIELDS]);
  const query = whole ? select : select.where(sql<boolean>`created_at >= ${sql.lit(createdSince)}::timestamp`);
  return read(pool, 'user', USER_FIELDS.length, statementsOf('user', USER_FIELDS, query.compile(), whole, count), rows, signal);
}
