/**
 * The read-only view of the API's schema and the PostgreSQL connection.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

/** Columns we read from `"user"`; the API owns the schema. */
export interface UserTable {
  id: string;
  email: string;
  country: string | null;
  created_at: string | null;
}

export interface ScriptTable {
  id: string;
  slug: string;
}

export interface ExecutionTable {
  id: string;
  start_date: string | null;
  end_date: string | null;
  status: string | null;
  script_id: string | null;
  user_id: string | null;
}

export interface Database {
  user: UserTable;
  script: ScriptTable;
  execution: ExecutionTable;
}

export type Db = Kysely<Database>;

const INT8_OID = 20;

/**
 * Counts (int8) become numbers; numerics and timestamps stay text. Without this,
 * node-postgres would read `timestamp without time zone` in the process's local zone.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (format === 'binary') return pg.types.getTypeParser(oid, 'binary');
    return (value: string) => value;
  },
};

export interface DbOptions {
  readonly url: string;
  readonly poolSize: number;
  readonly applicationName: string;
  readonly statementTimeoutMs?: number;
}

/** Opens a pool; nothing connects until the first query. */
export function createDb(options: DbOptions): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    application_name: options.applicationName,
    types: types as pg.CustomTypesConfig,
    connectionTimeoutMillis: 10_000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  // An idle client losing its server is reported on the query that needs it, not as a crash.
  pool.on('error', () => undefined);
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool };
}
