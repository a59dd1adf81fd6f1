/**
 * The read-only view of the API's schema and the PostgreSQL connection.
 */
import type { Socket } from 'node:net';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { UnreachableError } from '../lib/errors.js';
import { reusedBufferSocket } from './pg-socket.js';
import { type PostgresTls, pgSslOption, withoutTlsParameters } from './tls.js';

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
const BOOL_OID = 16;

/**
 * Counts (int8) become numbers and booleans become booleans; numerics and timestamps stay text. Without this,
 * node-postgres would read `timestamp without time zone` in the process's local zone.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (oid === BOOL_OID) return (value: string) => value === 't';
    if (format === 'binary') return pg.types.getTypeParser(oid, 'binary');
    return (value: string) => value;
  },
};

/** What every connection to the API database is opened with. */
export interface PgConnectionOptions {
  /** DATABASE_URL as given; its TLS parameters are read from `tls`, not from here. */
  readonly url: string;
  readonly tls: PostgresTls;
  readonly applicationName: string;
  readonly statementTimeoutMs?: number;
}

export interface DbOptions extends PgConnectionOptions {
  readonly poolSize: number;
}

/**
 * Settings of every session, sent with the connection (no statement of their own):
 * - jit off: JIT compiles a statement's expressions before it runs (150-200 ms measured on
 *   million-row aggregates); a run's statements (COPY, the script table, a look-up of a
 *   few users) never earn that back;
 * - no parallel workers: the top users' look-up may otherwise plan a parallel scan whose
 *   workers are fresh processes, and the run already keeps the cores busy with its COPY.
 * Options already in the URL come after ours, so they win.
 */
export const SESSION_OPTIONS = '-c jit=off -c max_parallel_workers_per_gather=0';

/** `url` with SESSION_OPTIONS added to its `options` parameter (node-postgres lets the URL override the config). */
export function withSessionOptions(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const own = parsed.searchParams.get('options');
  parsed.searchParams.set('options', own ? `${SESSION_OPTIONS} ${own}` : SESSION_OPTIONS);
  return parsed.toString();
}

/**
 * The complete node-postgres configuration of a connection: URL, TLS, session settings,
 * type parsers. The pool uses it; `new pg.Client(pgConnectionConfig(options))` opens one
 * more connection with the very same TLS checks. TLS is set only through `ssl`: the URL
 * handed over has no sslmode left for node-postgres to interpret its own way.
 */
export function pgConnectionConfig(options: PgConnectionOptions): pg.ClientConfig {
  const ssl = pgSslOption(options.tls);
  return {
    connectionString: withSessionOptions(withoutTlsParameters(options.url)),
    ssl,
    // TLS reads through its own layer: only a plain connection gets the reused read buffer.
    ...(ssl === false ? { stream: reusedBufferSocket } : {}),
    ...(options.tls.negotiation ? { sslnegotiation: options.tls.negotiation } : {}),
    application_name: options.applicationName,
    types: types as pg.CustomTypesConfig,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  };
}

/** The server-side statement timeout when none is given (PostgreSQL's own default is none). */
const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;
/**
 * Past `--statement-timeout` the server ends a statement itself and says so; a statement
 * that has had no byte from the server for this much longer is waiting on a server (or a
 * network path) that has gone silent, which the server-side timeout cannot end.
 */
export const READ_DEADLINE_SLACK_MS = 5_000;
/**
 * TCP keepalive probes start after this much idle time, so the kernel finds a peer that
 * vanished (a host down, a path dropping packets) even on an idle pooled connection, after
 * its own probe interval and count; what bounds a statement is the read deadline.
 */
const KEEPALIVE_IDLE_MS = 10_000;

/** How long a statement may wait for the server's next byte: the statement timeout plus READ_DEADLINE_SLACK_MS. */
export function readDeadlineMs(statementTimeoutMs: number | undefined): number {
  return (statementTimeoutMs || DEFAULT_STATEMENT_TIMEOUT_MS) + READ_DEADLINE_SLACK_MS;
}

/** Statements a run sends one after another at most: the catalog, the script table, the pass, the top users' emails. */
const STATEMENTS_IN_A_ROW = 4;

/**
 * The run deadline: the load ends by then whatever PostgreSQL does (each statement in a
 * row at its read deadline); a family lock is renewed no longer than this plus the time
 * its writes take (src/run/family-run.ts).
 */
export function runDeadlineMs(statementTimeoutMs: number | undefined): number {
  return STATEMENTS_IN_A_ROW * readDeadlineMs(statementTimeoutMs);
}

/** A statement had no byte from PostgreSQL within its read deadline: the server or the path went silent. */
export class PostgresSilentError extends UnreachableError {
  override readonly name = 'PostgresSilentError';
  constructor(deadlineMs: number) {
    super(`PostgreSQL sent nothing for ${deadlineMs / 1000} s during a statement (the server or the network path went silent); the connection was dropped`);
  }
}

/**
 * Arms a read deadline on `client` while a statement is outstanding: from the moment a
 * statement is handed to the client until the client has nothing left to run ('drain'),
 * no byte for `deadlineMs` destroys the socket with a PostgresSilentError, which fails the
 * statement (and anything queued behind it). An idle pooled connection has no deadline.
 */
function boundReads(client: pg.Client, deadlineMs: number): void {
  const socket = () => (client as unknown as { connection: { stream: Socket } }).connection.stream;
  socket().on('timeout', () => socket().destroy(new PostgresSilentError(deadlineMs)));
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    socket().setTimeout(deadlineMs);
    return query(...args);
  };
  client.on('drain', () => socket().setTimeout(0));
}

/** Opens a pool; nothing connects until the first query. */
export function createDb(options: DbOptions): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({ ...pgConnectionConfig(options), max: options.poolSize });
  // An idle client losing its server is reported on the query that needs it, not as a crash.
  pool.on('error', () => undefined);
  // The pool listens for errors only while a client is idle: a backend terminated, or a server
  // restarted, while a client is checked out (a COPY streaming, a query about to start) would be
  // an unhandled 'error' event, a crash. The statement in flight fails with the error anyway,
  // and the pool discards the client when it comes back.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    boundReads(client, readDeadlineMs(options.statementTimeoutMs));
  });
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool };
}
