/**
 * src/state/insert-account.ts: whether the insert counter says rows were inserted that no
 * indexed read found (judged on data; the count itself is the integration tests').
 */
import { describe, expect, it } from 'vitest';
import { COUNT_INTERVAL_MS, InsertAccount } from '../../src/state/insert-account.js';

describe('insert account', () => {
  it('a counter no further than the rows found is explained; beyond them it asks for a count, at most once an interval', () => {
    const account = new InsertAccount(100n);
    expect(account.judge('100', 0)).toBe('ok');
    account.add(3);
    // The counter lags the rows: behind or level with what the reads found is fine.
    expect(account.judge('101', 0)).toBe('ok');
    expect(account.judge('103', 0)).toBe('ok');
    // One more than found: a backfill, or the load's own rows counted late. A count settles it.
    expect(account.judge('104', 0)).toBe('count');
    account.settled('104', 0);
    expect(account.judge('104', 1)).toBe('ok');
    expect(account.judge('105', 1)).toBe('ok');
    expect(account.judge('105', COUNT_INTERVAL_MS - 1)).toBe('ok');
    expect(account.judge('105', COUNT_INTERVAL_MS)).toBe('count');
  });

  it('a counter below its base went back (a restart, a stats reset); an unreadable one checks nothing', () => {
    expect(new InsertAccount(100n).judge('99', 0)).toBe('counter-reset');
    expect(new InsertAccount(null).judge('5000', 0)).toBe('ok');
    expect(new InsertAccount(100n).judge(null, 0)).toBe('ok');
  });
});
