import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BinaryCopyParser, type TupleReader } from '../../src/pass/copy-parser.js';
import { queryCopy, tableCopy } from '../../src/pass/copy.js';
import { StatusDictionary, UuidDictionary, uuidText } from '../../src/pass/dictionary.js';
import { binaryCopy, type CopyValue } from '../helpers/copy-binary.js';

/** Decodes every tuple of `stream`, written in chunks cut at `cuts`, as plain values. */
function decode(stream: Buffer, fields: number, cuts: readonly number[] = []): unknown[][] {
  const rows: unknown[][] = [];
  const parser = new BinaryCopyParser(fields, (tuple: TupleReader) => {
    rows.push(
      Array.from({ length: fields }, (_, field) => {
        if (tuple.isNull(field)) return null;
        return field === 0 ? tuple.int8(field) : tuple.text(field);
      }),
    );
  });
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    parser.write(stream.subarray(from, cut));
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

  it('reads infinities and int8 beyond 2^53 exactly on request', () => {
    const values: bigint[] = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 60n + 12345n, -(2n ** 55n) - 3n];
    const seen: Array<[number, bigint]> = [];
    const parser = new BinaryCopyParser(1, (tuple) => seen.push([tuple.int8(0), tuple.int8Exact(0)]));
    parser.write(binaryCopy(values.map((int8) => [{ int8 }])));
    parser.end();
    expect(seen.map(([number]) => number).slice(0, 2)).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    expect(seen.map(([, exact]) => exact)).toEqual(values);
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
    const parser = new BinaryCopyParser(1, (tuple) => dictionary.indexOf(tuple, 0));
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

describe('StatusDictionary', () => {
  it('gives NULL index 0, and each distinct status its own index, collisions of shape included', () => {
    const statuses = new StatusDictionary();
    const names = ['FINISHED', 'FAILED', 'FROZEN', 'FAILED', null, 'FINISHED', 'RUNNING', 'READY_', 'RENDER'];
    const seen: number[] = [];
    const parser = new BinaryCopyParser(1, (tuple) => seen.push(statuses.indexOf(tuple, 0)));
    parser.write(binaryCopy(names.map((name) => [name === null ? null : { text: name }])));
    parser.end();
    expect(seen.map((index) => statuses.names[index])).toEqual(names);
    expect(seen[4]).toBe(0);
    expect(statuses.indexOfText('FROZEN')).toBe(seen[2]);
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
