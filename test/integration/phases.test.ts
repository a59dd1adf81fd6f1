/**
 * The phases a refresh and `verify` share (src/run/phases.ts), on the real PostgreSQL: the
 * catalog read, counted and retried as every statement is, and what is refused when it
 * cannot be read; the sections loaded and assembled from the same catalog.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/io/db.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { DECODED_COLUMNS } from '../../src/pass/catalog.js';
import { requestsFor } from '../../src/requests/batches.js';
import { payloadKey } from '../../src/requests/request-keys.js';
import { assemblerOf, checkCatalog, loadSections } from '../../src/run/phases.js';
import { partsOf } from '../../src/stats/sections.js';
import { goldenValue } from '../helpers/golden.js';
import { databaseFromTemplate, freePort, GOLDEN_NOW, goldenTemplate, type TestDatabase } from '../helpers/services.js';

const RETRY = { attempts: 3, baseDelayMs: 0, maxDelayMs: 0 };
const connect = (url: string) => createDb({ url, tls: parsePostgresTls(url, 'DATABASE_URL'), applicationName: 'stats-refresh-phases', poolSize: 2 });

let database: TestDatabase;
let db: ReturnType<typeof createDb>;

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'phases');
  db = connect(database.url);
});

afterAll(async () => {
  await db?.db.destroy();
  await database?.drop();
});

describe('checkCatalog', () => {
  it('reads the catalog in one statement and refuses nothing on the golden database', async () => {
    const heard: string[] = [];
    const catalog = await checkCatalog(db, { retry: RETRY, observe: (statement, _ms, error) => heard.push(`${statement} ${error ? 'failed' : 'done'}`) });
    expect(catalog.catalog).not.toBeNull();
    expect(catalog.refused.size).toBe(0);
    expect(catalog.statements).toBe(1);
    expect(heard).toEqual(['catalog done']);
  });

  it('a catalog it cannot read: every attempt counted, every column refused with why', async () => {
    const nowhere = connect(`postgres://postgres@127.0.0.1:${await freePort()}/postgres`);
    try {
      const retried: number[] = [];
      const catalog = await checkCatalog(nowhere, { retry: RETRY, onRetry: (_statement, attempt) => retried.push(attempt) }, []);
      expect(catalog.catalog).toBeNull();
      expect(catalog.statements).toBe(RETRY.attempts);
      expect(retried).toEqual([1, 2]);
      expect([...catalog.refused.keys()].sort()).toEqual(Object.keys(DECODED_COLUMNS).sort());
      for (const error of catalog.refused.values()) expect(error.message).toMatch(/^query catalog failed: .*ECONNREFUSED/);
    } finally {
      await nowhere.db.destroy();
    }
  });
});

describe('loadSections and assemblerOf', () => {
  it('load what the parts read, and assemble the payloads the API stores', async () => {
    const now = new Date(GOLDEN_NOW);
    const catalog = await checkCatalog(db, { retry: RETRY });
    const requests = requestsFor(['executions']);
    const load = await loadSections([{ parts: requests.flatMap(partsOf), at: now }], catalog, db, { concurrency: 2, retry: RETRY });
    expect(load.data.failures.size).toBe(0);
    // The catalog, the script table, the execution pass and the top users' emails.
    expect(load.statements).toBe(4);
    const assembler = assemblerOf(load.data, catalog)(now);
    for (const request of requests) expect(JSON.parse(assembler.payload(request)), payloadKey(request)).toStrictEqual(goldenValue(payloadKey(request)));
  });
});
