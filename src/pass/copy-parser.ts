/**
 * A streaming parser of PostgreSQL's binary COPY format (`COPY … TO STDOUT (FORMAT binary)`),
 * in the manner of node-postgres's own protocol parser: the unparsed tail of the last chunk
 * is kept in one buffer that grows by doubling, only complete tuples are visited, and every
 * tuple is read through one reusable reader. It allocates nothing per row.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags (int32) and header-extension length (int32). */
const FIXED_HEADER_BYTES = SIGNATURE.length + 8;
const NULL_LENGTH = -1;
const TRAILER = -1;
const INT8_INFINITY_HIGH = 0x7fffffff;
const INT8_MINUS_INFINITY_HIGH = -0x80000000;

/** Read access to the fields of the current tuple; valid only during the callback. */
export class TupleReader {
  buffer: Buffer = Buffer.alloc(0);
  private view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  /** Byte offset (in `buffer`) and length (-1 for NULL) of each field. */
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;

  constructor(readonly fieldCount: number) {
    this.offsets = new Int32Array(fieldCount);
    this.lengths = new Int32Array(fieldCount);
  }

  /** @internal */
  attach(buffer: Buffer): void {
    if (buffer === this.buffer) return;
    this.buffer = buffer;
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  isNull(field: number): boolean {
    return this.lengths[field] === NULL_LENGTH;
  }

  /**
   * An int8 (a timestamp's microseconds) as a Number; NaN for NULL, ±Infinity for PostgreSQL's
   * infinite timestamps. Values beyond ±2^53 are approximate: read those with `int8Exact`.
   */
  int8(field: number): number {
    if (this.lengths[field] !== 8) return Number.NaN;
    const at = this.offsets[field]!;
    const high = this.view.getInt32(at);
    const low = this.view.getUint32(at + 4);
    if (high === INT8_INFINITY_HIGH && low === 0xffffffff) return Number.POSITIVE_INFINITY;
    if (high === INT8_MINUS_INFINITY_HIGH && low === 0) return Number.NEGATIVE_INFINITY;
    return high * 4294967296 + low;
  }

  /** An int8 exactly, as a bigint. */
  int8Exact(field: number): bigint {
    return this.view.getBigInt64(this.offsets[field]!);
  }

  /** The `word`-th big-endian 32-bit word of a field (a uuid has four), as a signed int32. */
  word(field: number, word: number): number {
    return this.view.getInt32(this.offsets[field]! + 4 * word);
  }

  /** A text field, decoded as UTF-8 (the API's databases are UTF-8); null for NULL. */
  text(field: number): string | null {
    const length = this.lengths[field]!;
    if (length === NULL_LENGTH) return null;
    const at = this.offsets[field]!;
    return this.buffer.toString('utf8', at, at + length);
  }
}

type Stage = 'header' | 'tuples' | 'done';

/**
 * Feeds complete tuples of a binary COPY stream to `onTuple`. `write` each chunk as it
 * arrives, then `end()`; both throw on a malformed stream.
 */
export class BinaryCopyParser {
  private readonly reader: TupleReader;
  /** Unparsed bytes carried between chunks: the first `carryLength` bytes of `carry`. */
  private carry = Buffer.alloc(0);
  private carryLength = 0;
  private stage: Stage = 'header';
  /** Tuples seen, for the caller's counters. */
  rows = 0;
  /** Bytes received, COPY framing included. */
  bytes = 0;

  constructor(
    fieldCount: number,
    private readonly onTuple: (tuple: TupleReader) => void,
  ) {
    this.reader = new TupleReader(fieldCount);
  }

  write(chunk: Buffer): void {
    this.bytes += chunk.length;
    let input = chunk;
    if (this.carryLength > 0) {
      this.append(chunk);
      input = this.carry.subarray(0, this.carryLength);
    }
    const consumed = this.parse(input);
    const left = input.length - consumed;
    if (left === 0) {
      this.carryLength = 0;
    } else if (input === chunk) {
      this.carryLength = 0;
      this.append(chunk.subarray(consumed));
    } else {
      this.carry.copy(this.carry, 0, consumed, this.carryLength);
      this.carryLength = left;
    }
  }

  /** Checks the stream ended where it should: after the trailer, nothing left over. */
  end(): void {
    if (this.stage !== 'done') throw new Error(`binary COPY stream ended early (${this.stage === 'header' ? 'no header' : 'no trailer'})`);
    if (this.carryLength > 0) throw new Error('binary COPY stream has data after its trailer');
  }

  private append(bytes: Buffer): void {
    const needed = this.carryLength + bytes.length;
    if (needed > this.carry.length) {
      let size = Math.max(this.carry.length * 2, 4096);
      while (size < needed) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      this.carry.copy(grown, 0, 0, this.carryLength);
      this.carry = grown;
    }
    bytes.copy(this.carry, this.carryLength);
    this.carryLength = needed;
  }

  /** Parses what it can of `input`; returns the bytes consumed. */
  private parse(input: Buffer): number {
    let at = 0;
    if (this.stage === 'header') {
      const size = headerSize(input);
      if (size === null) return 0;
      at = size;
      this.stage = 'tuples';
    }
    if (this.stage === 'done') {
      if (input.length > 0) throw new Error('binary COPY stream has data after its trailer');
      return 0;
    }
    const reader = this.reader;
    reader.attach(input);
    const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
    const { offsets, lengths, fieldCount } = reader;
    const end = input.length;
    for (;;) {
      if (at + 2 > end) return at;
      const count = view.getInt16(at);
      if (count === TRAILER) {
        this.stage = 'done';
        if (at + 2 !== end) throw new Error('binary COPY stream has data after its trailer');
        return end;
      }
      if (count !== fieldCount) throw new Error(`binary COPY tuple has ${count} fields, expected ${fieldCount}`);
      let cursor = at + 2;
      let complete = true;
      for (let field = 0; field < fieldCount; field++) {
        if (cursor + 4 > end) {
          complete = false;
          break;
        }
        const length = view.getInt32(cursor);
        cursor += 4;
        offsets[field] = cursor;
        lengths[field] = length;
        if (length > 0) cursor += length;
        if (cursor > end) {
          complete = false;
          break;
        }
      }
      if (!complete) return at;
      at = cursor;
      this.rows++;
      this.onTuple(reader);
    }
  }
}

/** The header's length once it is all in `input`, or null while it is not. */
function headerSize(input: Buffer): number | null {
  if (input.length < FIXED_HEADER_BYTES) return null;
  if (!input.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not a binary COPY stream (bad signature)');
  const extension = input.readInt32BE(SIGNATURE.length + 4);
  const size = FIXED_HEADER_BYTES + extension;
  return input.length >= size ? size : null;
}
