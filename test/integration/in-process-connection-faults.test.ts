/**
 * The connections themselves under faults, in-process, on the real services: a PostgreSQL
 * backend lost while its client is checked out, a Redis that stops answering. Each case
 * ends in an error the caller can report, never a crash or a wait without end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/io/db.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { ADMIN_URL, adminQuery } from '../helpers/services.js';

/** Resolves with the first uncaught exception of the process within `ms`, or null. */
function uncaughtWithin(ms: number): Promise<unknown> {
  return new Promise((resolve) => {
    // vitest reports uncaught exceptions as errors of the run: listen before it does.
    const listener = (error: unknown) => finish(error);
    const finish = (error: unknown) => {
      clearTimeout(timer);
      process.off('uncaughtException', listener);
      resolve(error);
    };
    const timer = setTimeout(() => finish(null), ms);
    process.prependListener('uncaughtException', listener);
  });
}

describe('PostgreSQL', () => {
  let db: ReturnType<typeof createDb>;

  beforeAll(() => {
    db = createDb({ url: ADMIN_URL, tls: parsePostgresTls(ADMIN_URL, 'DATABASE_URL'), applicationName: 'stats-refresh-faults', poolSize: 2 });
  });

  afterAll(async () => {
    await db.db.destroy();
  });

  it('a backend terminated while its client is checked out is an error of the next statement, not a crash', async () => {
    const client = await db.pool.connect();
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    const crash = uncaughtWithin(1_000);
    await adminQuery(`SELECT pg_terminate_backend(${rows[0].pid as number})`);
    expect(await crash).toBeNull();
    await expect(client.query('SELECT 1')).rejects.toThrow(/not queryable|terminat/);
    client.release(true);
    // The pool goes on with a fresh connection.
    expect((await db.pool.query('SELECT 1 AS one')).rows[0].one).toBe('1');
  });
});
