/**
 * src/state/id-index.ts: the row of each execution id, with rows appended unindexed by a
 * whole-table read and indexed at the first look-up, growing past its first size.
 */
import { describe, expect, it } from 'vitest';
import { uuidText } from '../../src/pass/dictionary.js';
import { IdIndex } from '../../src/state/id-index.js';
import { random } from '../helpers/random.js';

describe('id index', () => {
  it('appended and added rows are found by id, each once, past several growths', () => {
    const next = random(7);
    const word = () => Math.floor(next() * 2 ** 32) | 0;
    const ids = Array.from({ length: 5000 }, () => [word(), word(), word(), word()] as [number, number, number, number]);
    const index = new IdIndex(16);
    ids.slice(0, 3000).forEach((id, row) => expect(index.append(...id)).toBe(row));
    // The first look-up indexes what was appended; adding a known id finds its row.
    expect(index.add(...ids[1234]!)).toBe(1234);
    ids.slice(3000).forEach((id, offset) => expect(index.add(...id)).toBe(3000 + offset));
    expect(index.size).toBe(5000);
    for (const row of [0, 1, 2999, 3000, 4999]) {
      const text = uuidText(ids[row]!);
      expect(index.textOf(row)).toBe(text);
      expect(index.rowOfText(text)).toBe(row);
      expect(index.rowOfText(text.toUpperCase())).toBe(row);
    }
    expect(index.rowOfText(uuidText([1, 2, 3, 4]))).toBe(-1);
    expect(index.rowOfText('not a uuid')).toBe(-1);
  });
});
