/**
 * src/lib/releasers.ts: last in, first out; each release awaited before the next starts; a
 * failing release reported and the others still run.
 */
import { describe, expect, it } from 'vitest';
import { Releasers } from '../../src/lib/releasers.js';

describe('Releasers', () => {
  it('releases the last acquired first', async () => {
    const order: string[] = [];
    const releasers = new Releasers();
    for (const name of ['postgres', 'redis', 'lock']) releasers.push(name, () => order.push(name));
    await releasers.releaseAll();
    expect(order).toEqual(['lock', 'redis', 'postgres']);
  });

  it('awaits each release before it starts the next', async () => {
    const events: string[] = [];
    const releasers = new Releasers();
    releasers.push('first', () => events.push('first'));
    releasers.push('slow', async () => {
      events.push('slow started');
      for (let turn = 0; turn < 10; turn++) await Promise.resolve();
      events.push('slow done');
    });
    await releasers.releaseAll();
    expect(events).toEqual(['slow started', 'slow done', 'first']);
  });

  it('reports every failed release, thrown or rejected, and runs the rest', async () => {
    const released: string[] = [];
    const failures: Array<[string, unknown]> = [];
    const thrown = new Error('quit failed');
    const releasers = new Releasers();
    releasers.push('a', () => released.push('a'));
    releasers.push('b', () => {
      throw thrown;
    });
    releasers.push('c', () => released.push('c'));
    releasers.push('d', () => Promise.reject('refused'));
    await releasers.releaseAll((name, error) => failures.push([name, error]));
    expect(released).toEqual(['c', 'a']);
    expect(failures).toEqual([
      ['d', 'refused'],
      ['b', thrown],
    ]);
  });

  it('without a listener, a failed release is swallowed, not thrown', async () => {
    const released: string[] = [];
    const releasers = new Releasers();
    releasers.push('a', () => released.push('a'));
    releasers.push('b', () => Promise.reject(new Error('x')));
    await expect(releasers.releaseAll()).resolves.toBeUndefined();
    expect(released).toEqual(['a']);
  });

  it('releases each resource once: a second releaseAll has nothing left, a later push is released', async () => {
    let count = 0;
    const releasers = new Releasers();
    releasers.push('a', () => count++);
    await releasers.releaseAll();
    await releasers.releaseAll();
    expect(count).toBe(1);
    releasers.push('b', () => (count += 10));
    await releasers.releaseAll();
    expect(count).toBe(11);
  });
});
