/**
 * What the run checks in the catalog before it reads a row: the type of every column it may
 * decode (the binary COPY is read by position, with the types assumed, so a column of
 * another type would be read as garbage, silently) and the tables' change counters (the
 * drift check's proof that the data did not change between two instants, and whether the
 * server is a hot standby, where those counters do not move). One small statement; a view's
 * columns are checked too.
 */
import { sql } from 'kysely';
import type { Db } from '../io/db.js';
import type { ChangeCounters } from '../io/drift-store.js';
import { type ChangeFingerprint, SOURCE_COLUMNS_SQL, SOURCE_DATABASE_SQL } from './change-probe.js';

/** How each column the run may read is decoded, and the types that decode to the same values. */
const TIMESTAMP = { accepts: ['timestamp', 'timestamptz'], says: 'timestamp without time zone (or timestamptz, read in UTC)' } as const;
const TEXT = { accepts: ['text', 'varchar', 'enum'], says: 'text, character varying or an enum' } as const;
const UUID = { accepts: ['uuid'], says: 'uuid' } as const;

export const DECODED_COLUMNS = {
  'execution.start_date': TIMESTAMP,
  'execution.end_date': TIMESTAMP,
  'execution.status': TEXT,
  'execution.script_id': UUID,
  'execution.user_id': UUID,
  'user.id': UUID,
  'user.country': TEXT,
  'user.created_at': TIMESTAMP,
  'user.email': TEXT,
  'script.id': UUID,
  'script.slug': TEXT,
} as const;

export type Column = keyof typeof DECODED_COLUMNS;

/** The tables the run reads (their change counters: see ChangeCounters). */
export const TABLES = ['execution', 'user', 'script'] as const satisfies ReadonlyArray<keyof ChangeCounters>;

export interface ColumnType {
  /** format_type(), e.g. `integer`, `timestamp without time zone`. */
  readonly type: string;
  /** The base type's name (through one domain) and kind: `b` base, `e` enum, `d` domain… */
  readonly base: string;
  readonly kind: string;
}

export interface Catalog {
  /** Every column of the tables read, by `table.column`. */
  readonly columns: ReadonlyMap<string, ColumnType>;
  readonly counters: ChangeCounters;
  /** pg_is_in_recovery(): a hot standby, whose pg_stat_user_tables does not move while rows replicate. */
  readonly standby: boolean;
  /**
   * The change probe's `source` (the database and the digest of the tables' columns) computed
   * in the same statement as `columns`: equal to a later fingerprint's, the columns are still
   * the ones read (src/state/run-reads.ts).
   */
  readonly source: ChangeFingerprint['source'];
}

interface CatalogRow {
  /** JSON text (the run's type parsers leave json as text). */
  readonly columns: string | null;
  readonly counters: string | null;
  readonly standby: boolean;
  readonly database: string;
  readonly source_columns: string;
}

type ColumnRow = { relation: string; column: string; type: string; base: string; kind: string };
type CounterRow = { relation: string; changes: string };

export async function readCatalog(db: Db): Promise<Catalog> {
  const { rows } = await sql<CatalogRow>`
    WITH relations AS (
      SELECT relation, to_regclass(quote_ident(relation)) AS oid FROM unnest(${[...TABLES]}::text[]) AS relation
    )
    SELECT
      (SELECT json_agg(json_build_object(
                'relation', r.relation, 'column', a.attname, 'type', format_type(a.atttypid, NULL),
                'base', coalesce(b.typname, t.typname), 'kind', coalesce(b.typtype, t.typtype)))
         FROM relations r
         JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype) AS columns,
      (SELECT json_agg(json_build_object('relation', r.relation, 'changes', (s.n_tup_ins + s.n_tup_upd + s.n_tup_del)::text))
         FROM relations r JOIN pg_stat_user_tables s ON s.relid = r.oid) AS counters,
      pg_is_in_recovery() AS standby,
      ${sql.raw(SOURCE_DATABASE_SQL)} AS database,
      ${sql.raw(SOURCE_COLUMNS_SQL)} AS source_columns`.execute(db);
  const columns = JSON.parse(rows[0]?.columns ?? '[]') as ColumnRow[];
  const changes = JSON.parse(rows[0]?.counters ?? '[]') as CounterRow[];
  const counters = Object.fromEntries(TABLES.map((table) => [table, changes.find((entry) => entry.relation === table)?.changes ?? null]));
  return {
    columns: new Map(columns.map(({ relation, column, type, base, kind }) => [`${relation}.${column}`, { type, base, kind }])),
    counters: counters as ChangeCounters,
    standby: rows[0]?.standby === true,
    source: { database: rows[0]?.database ?? '', columns: rows[0]?.source_columns ?? '' },
  };
}

/** The type's name as the decoders' lists name it: an enum is `enum`, a domain its base type. */
function decodedAs(type: ColumnType): string {
  if (type.kind === 'e') return 'enum';
  return type.base === 'bpchar' ? 'character' : type.base;
}

/**
 * The columns whose type the decoders do not read exactly, each with the line that says so.
 * A column the table lacks is not listed: its statement fails with PostgreSQL's own message.
 */
export function refusedColumns(catalog: Catalog): Map<Column, Error> {
  const refused = new Map<Column, Error>();
  for (const [column, decoder] of Object.entries(DECODED_COLUMNS) as Array<[Column, (typeof DECODED_COLUMNS)[Column]]>) {
    const found = catalog.columns.get(column);
    if (!found || (decoder.accepts as readonly string[]).includes(decodedAs(found))) continue;
    const [table, name] = column.split('.') as [string, string];
    refused.set(
      column,
      new Error(`column ${table === 'user' ? '"user"' : table}.${name} is ${found.type}; stats-refresh reads it only as ${decoder.says}`),
    );
  }
  return refused;
}
