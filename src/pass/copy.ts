/**
 * Running the load's statements on pooled connections: one `COPY … TO STDOUT (FORMAT
 * binary)` read in place off the socket into a parser (copy-out.ts), and the small queries.
 * A connection error while a statement runs (a terminated backend, a lost socket) rejects
 * that statement, never the process; an abort cancels a COPY on the server (PostgreSQL's
 * cancel request, no extra session), so nothing keeps reading after the run has given up.
 */
import type { Socket } from 'node:net';
import pg from 'pg';
import { CopyOut, type CopySink } from './copy-out.js';

/** The subset of pg.Pool the load needs. */
export interface CopyPool {
  connect(): Promise<pg.PoolClient>;
  readonly options: pg.PoolConfig;
}

/**
 * Two ways to COPY the same columns: `COPY table (columns)`, which costs the server about a
 * sixth less CPU than the same SELECT (measured: 657 against 788 ms for a million executions),
 * and `COPY (SELECT …)` for the relations PostgreSQL will not copy directly (a view, say).
 */
export interface CopyStatements {
  /** Null when the table form cannot express it (no column). */
  readonly table: string | null;
  readonly query: string;
}

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** The table form of a COPY of `columns` of `table`. */
export function tableCopy(table: string, columns: readonly string[]): string | null {
  return columns.length === 0 ? null : `COPY ${quote(table)} (${columns.map(quote).join(', ')}) TO STDOUT (FORMAT binary)`;
}

/** The query form, around a SELECT compiled by Kysely (it has no parameters: COPY takes none). */
export function queryCopy(compiled: { sql: string; parameters: readonly unknown[] }): string {
  if (compiled.parameters.length > 0) throw new Error('a COPY statement cannot take parameters');
  return `COPY (${compiled.sql}) TO STDOUT (FORMAT binary)`;
}

/** SQLSTATE wrong_object_type: "cannot copy from view" (or from a partitioned or foreign table). */
const CANNOT_COPY_FROM = '42809';
/** Pools that were refused the table form, so a long-running process asks only once. */
const queryFormOnly = new WeakMap<CopyPool, Set<string>>();

/** What the server sent for one COPY. */
export interface CopyStats {
  readonly rows: number;
  readonly bytes: number;
}

/** A parser the COPY data goes to, that can say when the stream was complete. */
export interface CopyParser extends CopySink {
  readonly rows: number;
  readonly bytes: number;
  end(): void;
}

/** Runs the table form, or the query form when the server refuses the table form. */
export async function copyColumns(pool: CopyPool, statements: CopyStatements, parser: CopyParser, signal?: AbortSignal): Promise<CopyStats> {
  const refused = queryFormOnly.get(pool) ?? new Set<string>();
  queryFormOnly.set(pool, refused);
  if (statements.table && !refused.has(statements.table)) {
    try {
      return await copyInto(pool, statements.table, parser, signal);
    } catch (error) {
      if ((error as { code?: string }).code !== CANNOT_COPY_FROM) throw error;
      // Refused before any row: the parser has seen nothing yet.
      refused.add(statements.table);
    }
  }
  return copyInto(pool, statements.query, parser, signal);
}

/**
 * Runs `use` on a pooled client. The client is released when `use` settles, destroyed rather
 * than pooled if it failed; while it is out, a connection error rejects `use`'s promise
 * instead of being thrown as an unhandled 'error' event (node-postgres emits one on a client
 * that lost its server, and a checked-out client has no listener).
 */
export async function withClient<T>(pool: CopyPool, use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: (error: Error) => void = () => undefined;
  const connectionLost = new Promise<never>((_, reject) => {
    lost = reject;
  });
  connectionLost.catch(() => undefined);
  const onError = (error: Error) => lost(error);
  client.on('error', onError);
  let failure: Error | undefined;
  try {
    return await Promise.race([use(client), connectionLost]);
  } catch (error) {
    failure = error as Error;
    throw error;
  } finally {
    // A connection whose statement failed may be mid-protocol: destroy it rather than pool it.
    client.release(failure ?? false);
    // A destroyed client may still report its socket closing: that is no longer anyone's concern.
    if (failure) client.on('error', () => undefined);
    client.removeListener('error', onError);
  }
}

/** Runs a query (parameters as $1, $2, …) on a pooled client; resolves with its rows. */
export async function queryRows<Row>(pool: CopyPool, sql: string, parameters: readonly unknown[] = []): Promise<Row[]> {
  return withClient(pool, async (client) => (await client.query(sql, [...parameters])).rows as Row[]);
}

/** A cancel request is best effort: its connection is closed after this, whatever the server does. */
const CANCEL_WAIT_MS = 10_000;

/** The part of node-postgres's Connection a cancel request needs. */
interface CancelConnection {
  readonly stream: Socket;
  on(event: string, listener: (...args: unknown[]) => void): void;
  connect(port: number | string, host?: string): void;
  cancel(processID: number, secretKey: number): void;
}

/**
 * Asks the server to cancel the statement `client` is running: PostgreSQL's cancel request
 * (the backend's pid and secret key) on a throwaway connection. Sent by hand rather than
 * through `Client.cancel`, which reads the deprecated `Client.activeQuery` (a warning on
 * every cancel); the caller knows the statement is still running.
 */
function cancelOnServer(pool: CopyPool, client: pg.PoolClient): void {
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
  const canceller = new pg.Client(pool.options) as unknown as { host: string; port: number; connection: CancelConnection };
  const { connection, host, port } = canceller;
  // The canceller's connection is closed by the server; a refused one changes nothing.
  connection.on('error', () => undefined);
  connection.on('connect', () => connection.cancel(processID, secretKey));
  // A silent server (or path) never closes it: it must neither wait for ever nor hold the process.
  connection.stream.setTimeout(CANCEL_WAIT_MS, () => connection.stream.destroy());
  connection.stream.unref();
  if (host.startsWith('/')) connection.connect(`${host}/.s.PGSQL.${port}`);
  else connection.connect(port, host);
}

/**
 * Streams the COPY `sql` into `parser`; resolves when the server is done and the stream
 * was complete, rejects on any error (the connection is then discarded, not reused).
 */
export async function copyInto(pool: CopyPool, sql: string, parser: CopyParser, signal?: AbortSignal): Promise<CopyStats> {
  return withClient(pool, async (client) => {
    const copy = new CopyOut(sql, parser);
    const onAbort = () => cancelOnServer(pool, client);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      void client.query(copy as unknown as pg.QueryConfig);
      try {
        await copy.done;
      } catch (error) {
        // The parser refused the data, or the server failed the statement: make sure it stops.
        if (!(error as { code?: string }).code) onAbort();
        throw error;
      }
      parser.end();
      return { rows: parser.rows, bytes: parser.bytes };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  });
}
