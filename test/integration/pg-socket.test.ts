/**
 * A plain connection reads into one reused buffer (src/io/pg-socket.ts). On the real server,
 * with replies of many reads each: node-postgres's own replies arrive exact (it is handed
 * copies, since it keeps a message cut at a read's end), a COPY lent the buffer itself reads
 * every byte, and the same connection's next replies are exact again once the COPY is over.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/io/db.js';
import { isChunkLender } from '../../src/io/pg-socket.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { CopyOut } from '../../src/pass/copy-out.js';
import { ADMIN_URL } from '../helpers/services.js';

const ROWS = 4_000;
/** About 3 MiB of text in rows of 0 to 3,136 bytes: dozens of 64 KiB reads, rows cut at their ends. */
const TEXT_QUERY = `SELECT i, repeat(md5(i::text), i % 99) AS text FROM generate_series(1, ${ROWS}) AS i ORDER BY i`;
const COPY_ROWS = 60_000;
const COPY_SQL = `COPY (SELECT i, repeat('x', i % 301) FROM generate_series(1, ${COPY_ROWS}) AS i ORDER BY i) TO STDOUT`;

function expectedText(i: number): string {
  return createHash('md5').update(String(i)).digest('hex').repeat(i % 99);
}

async function expectTextRowsExact(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ i: number; text: string }>(TEXT_QUERY);
  expect(rows).toHaveLength(ROWS);
  const wrong = rows.filter((row, index) => Number(row.i) !== index + 1 || row.text !== expectedText(index + 1));
  expect(wrong.map((row) => row.i)).toEqual([]);
}

/** What COPY_SQL sends, in PostgreSQL's text format. */
function expectedCopy(): string {
  const lines: string[] = [];
  for (let i = 1; i <= COPY_ROWS; i++) lines.push(`${i}\t${'x'.repeat(i % 301)}\n`);
  return lines.join('');
}

describe('the reused read buffer of a plain connection', () => {
  let db: ReturnType<typeof createDb>;

  beforeAll(() => {
    db = createDb({ url: ADMIN_URL, tls: parsePostgresTls(ADMIN_URL, 'DATABASE_URL'), applicationName: 'stats-refresh-pg-socket', poolSize: 1 });
  });

  afterAll(async () => {
    await db.db.destroy();
  });

  it('reads node-postgres replies, a COPY and the replies after it, every byte exact', async () => {
    const client = await db.pool.connect();
    try {
      const stream = (client as unknown as { connection: { stream: unknown } }).connection.stream;
      expect(isChunkLender(stream)).toBe(true);
      await expectTextRowsExact(client);

      const parts: Buffer[] = [];
      const copy = new CopyOut(COPY_SQL, {
        write: (chunk, start, end) => parts.push(Buffer.from(chunk.subarray(start, end))),
        flush: () => undefined,
      });
      void client.query(copy as unknown as pg.QueryConfig);
      await copy.done;
      expect(Buffer.concat(parts).toString('latin1') === expectedCopy()).toBe(true);

      await expectTextRowsExact(client);
      const { rows } = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM generate_series(1, 10)');
      expect(rows).toEqual([{ n: '10' }]);
    } finally {
      client.release();
    }
    // A garbled stream leaves node-postgres waiting for a message that never ends.
  }, 20_000);
});
