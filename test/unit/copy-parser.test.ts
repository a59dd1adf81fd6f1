import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BinaryCopyParser, type TupleBatch } from '../../src/pass/copy-parser.js';
import { queryCopy, tableCopy } from '../../src/pass/copy.js';
import { TextDictionary, UuidDictionary, uuidText } from '../../src/pass/dictionary.js';
import { binaryCopy, type CopyValue } from '../helpers/copy-binary.js';

/** A parser handing each tuple of every batch to `onTuple`. */
function tupleParser(fields: number, onTuple: (tuples: TupleBatch, tuple: number) => void): BinaryCopyParser {
  return new BinaryCopyParser(fields, (tuples) => {
    for (let tuple = 0; tuple < tuples.size; tuple++) onTuple(tuples, tuple);
  });
}

/**
 * Decodes every tuple of `stream`, written in chunks cut at `cuts`, as plain values. Each
 * chunk is a fresh copy, overwritten once written, as a socket's chunks are reused: tuples
 * must be read before the chunk's flush returns.
 */
function decode(stream: Buffer, fields: number, cuts: readonly number[] = []): unknown[][] {
  const rows: unknown[][] = [];
  const parser = tupleParser(fields, (tuples, tuple) => {
    rows.push(
      Array.from({ length: fields }, (_, field) => {
        if (tuples.isNull(tuple, field)) return null;
        return field === 0 ? tuples.int8(tuple, field) : tuples.text(tuple, field);
      }),
    );
  });
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    const chunk = Buffer.from(stream.subarray(from, cut));
    parser.write(chunk);
    parser.flush();
    chunk.fill(0xee);
    from = cut;
  }
  parser.end();
  return rows;
}

const ROWS: CopyValue[][] = [
  [{ int8: 0n }, { text: 'FINISHED' }],
  [null, { text: 'héllo ✓' }],
  [{ int8: -1n }, null],
  [{ int8: 2n ** 52n }, { text: '' }],
];
const DECODED = [
  [0, 'FINISHED'],
  [null, 'héllo ✓'],
  [-1, null],
  [2 ** 52, ''],
];

describe('BinaryCopyParser', () => {
  it('decodes tuples with NULLs, empty and non-ASCII text, negative int8', () => {
    expect(decode(binaryCopy(ROWS), 2)).toEqual(DECODED);
  });

  it('gives the same tuples however the stream is cut into chunks', () => {
    const stream = binaryCopy(ROWS, Buffer.from('ext'));
    for (let cut = 1; cut < stream.length; cut++) {
      expect(decode(stream, 2, [cut]), `cut at ${cut}`).toEqual(DECODED);
    }
    const everyByte = Array.from({ length: stream.length - 1 }, (_, index) => index + 1);
    expect(decode(stream, 2, everyByte)).toEqual(DECODED);
  });

  it('reads infinities, int8 exactly up to ±2^53 and to the nearest Number beyond, and exactly on request', () => {
    const values: bigint[] = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 60n + 12345n, -(2n ** 55n) - 3n, 2n ** 53n - 1n, -(2n ** 53n) + 1n, 2n ** 53n + 1n];
    const seen: Array<[number, bigint]> = [];
    const parser = tupleParser(1, (tuples, tuple) => seen.push([tuples.int8(tuple, 0), tuples.int8Exact(tuple, 0)]));
    parser.write(binaryCopy(values.map((int8) => [{ int8 }])));
    parser.end();
    expect(seen.map(([number]) => number).slice(0, 2)).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    expect(seen.map(([, exact]) => exact)).toEqual(values);
    expect(seen.slice(2).map(([number]) => number)).toEqual(values.slice(2).map((value) => Number(value)));
  });

  it('hands tuples over in batches of at most TupleBatch.SIZE, and every one of them', () => {
    const sizes: number[] = [];
    const parser = new BinaryCopyParser(1, (tuples) => sizes.push(tuples.size));
    parser.write(binaryCopy(Array.from({ length: 600 }, (_, index) => [{ int8: BigInt(index) }])));
    parser.end();
    expect(sizes).toEqual([256, 256, 88]);
  });

  it('counts rows and bytes', () => {
    const stream = binaryCopy(ROWS);
    const parser = new BinaryCopyParser(2, () => undefined);
    parser.write(stream);
    parser.end();
    expect(parser.rows).toBe(4);
    expect(parser.bytes).toBe(stream.length);
  });

  it('refuses a stream that is not binary COPY, has the wrong field count, or ends early', () => {
    expect(() => decode(Buffer.from('id,name\n1,2\n'.padEnd(40, ' ')), 2)).toThrow(/bad signature/);
    expect(() => decode(binaryCopy(ROWS), 3)).toThrow(/2 fields, expected 3/);
    const stream = binaryCopy(ROWS);
    expect(() => decode(stream.subarray(0, stream.length - 2), 2)).toThrow(/no trailer/);
    expect(() => decode(Buffer.concat([stream, Buffer.from([0])]), 2)).toThrow(/after its trailer/);
    expect(() => decode(Buffer.alloc(0), 2)).toThrow(/no header/);
  });
});

describe('UuidDictionary', () => {
  it('numbers uuids densely in first-seen order, through rehashes, and prints them back', () => {
    const dictionary = new UuidDictionary();
    const uuids = Array.from({ length: 5000 }, () => randomUUID());
    const parser = tupleParser(1, (tuples, tuple) => dictionary.indexOf(tuples, tuple, 0));
    parser.write(binaryCopy([...uuids, ...uuids.slice(0, 100)].map((uuid) => [{ uuid }])));
    parser.end();
    expect(dictionary.size).toBe(5000);
    uuids.forEach((uuid, index) => expect(dictionary.indexOfText(uuid)).toBe(index));
    expect(dictionary.indexOfText(randomUUID())).toBe(-1);
  });

  it('prints a uuid from its words, high bits included', () => {
    expect(uuidText([-1, 0, 0x7fffffff, -0x80000000])).toBe('ffffffff-0000-0000-7fff-ffff80000000');
  });

  it('finds a uuid by its words (signed, as the parser reads them), or gives -1', () => {
    const dictionary = new UuidDictionary();
    dictionary.indexOfText(randomUUID(), true);
    dictionary.indexOfText('ffffffff-0000-0001-8000-00000000000a', true);
    expect(dictionary.find(-1, 1, -0x80000000, 10)).toBe(1);
    expect(dictionary.find(-1, 1, -0x80000000, 11)).toBe(-1);
  });
});

describe('TextDictionary', () => {
  it('gives NULL index 0, and each distinct text its own index, found again by its bytes', () => {
    const texts = new TextDictionary();
    const names = ['FINISHED', 'FAILED', 'FROZEN', 'FAILED', null, 'FINISHED', 'RUNNING', 'READY_', 'RENDER', '', 'Côte d’Ivoire', 'Cote d’Ivoire'];
    const seen: number[] = [];
    const parser = tupleParser(1, (tuples, tuple) => seen.push(texts.indexOf(tuples, tuple, 0)));
    parser.write(binaryCopy(names.map((name) => [name === null ? null : { text: name }])));
    parser.end();
    expect(seen.map((index) => texts.names[index])).toEqual(names);
    expect(seen[4]).toBe(0);
    expect(new Set(seen).size).toBe(10);
    expect(texts.indexOfText('FROZEN')).toBe(seen[2]);
    expect(texts.indexOfText('Côte d’Ivoire')).toBe(seen[10]);
  });

  it('keeps hundreds of texts apart through its growth', () => {
    const texts = new TextDictionary();
    const names = Array.from({ length: 500 }, (_, index) => `country ${index}`);
    const indexes = names.map((name) => texts.indexOfText(name));
    expect(new Set(indexes).size).toBe(500);
    const seen: number[] = [];
    const parser = tupleParser(1, (tuples, tuple) => seen.push(texts.indexOf(tuples, tuple, 0)));
    parser.write(binaryCopy(names.map((text) => [{ text }])));
    parser.end();
    expect(seen).toEqual(indexes);
  });
});

describe('COPY statements', () => {
  it('the table form quotes the table and its columns; no column, no table form', () => {
    expect(tableCopy('user', ['id', 'created_at'])).toBe('COPY "user" ("id", "created_at") TO STDOUT (FORMAT binary)');
    expect(tableCopy('odd"name', ['a'])).toBe('COPY "odd""name" ("a") TO STDOUT (FORMAT binary)');
    expect(tableCopy('user', [])).toBeNull();
  });

  it('the query form wraps a compiled SELECT, which may not take parameters', () => {
    expect(queryCopy({ sql: 'select "id" from "user"', parameters: [] })).toBe('COPY (select "id" from "user") TO STDOUT (FORMAT binary)');
    expect(() => queryCopy({ sql: 'select $1', parameters: [1] })).toThrow(/cannot take parameters/);
  });
});
