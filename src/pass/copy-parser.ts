/**
 * A streaming parser of PostgreSQL's binary COPY format (`COPY … TO STDOUT (FORMAT binary)`),
 * in the manner of node-postgres's own protocol parser: tuples are framed in place in the
 * bytes they arrived in, only a tuple cut by the end of a chunk is copied (into one buffer
 * that grows by doubling), and tuples go to the consumer a batch at a time, as field offsets
 * into those bytes. It allocates nothing per row.
 */
import type { CopySink } from './copy-out.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags (int32) and header-extension length (int32). */
const FIXED_HEADER_BYTES = SIGNATURE.length + 8;
const NULL_LENGTH = -1;
/** The trailer's field count, -1 as an unsigned int16. */
const TRAILER = 0xffff;
const INT8_INFINITY_HIGH = 0x7fffffff;
const INT8_MINUS_INFINITY_HIGH = -0x80000000;

export function int32At(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
}

/**
 * An int8 field (a timestamp's microseconds) of `length` bytes at `at`, as a Number: NaN for
 * NULL, ±Infinity for PostgreSQL's infinite timestamps. Finite values beyond ±2^53 are
 * approximate: read those exactly with TupleBatch.int8Exact.
 */
export function int8At(bytes: Uint8Array, at: number, length: number): number {
  if (length !== 8) return Number.NaN;
  const high = int32At(bytes, at);
  const low = int32At(bytes, at + 4) >>> 0;
  if (high === INT8_INFINITY_HIGH && low === 0xffffffff) return Number.POSITIVE_INFINITY;
  if (high === INT8_MINUS_INFINITY_HIGH && low === 0) return Number.NEGATIVE_INFINITY;
  return high * 4294967296 + low;
}

/**
 * The fields of up to SIZE consecutive tuples, as offsets into `bytes`. Valid only during
 * the consumer's call: the bytes are a socket chunk, reused once the call returns.
 */
export class TupleBatch {
  static readonly SIZE = 256;
  bytes: Buffer = Buffer.alloc(0);
  /** Tuples in the batch. */
  size = 0;
  /** Byte offset (in `bytes`) and length (-1 for NULL) of field f of tuple t, at t × fields + f. */
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;

  constructor(readonly fields: number) {
    this.offsets = new Int32Array(TupleBatch.SIZE * fields);
    this.lengths = new Int32Array(TupleBatch.SIZE * fields);
  }

  isNull(tuple: number, field: number): boolean {
    return this.lengths[tuple * this.fields + field] === NULL_LENGTH;
  }

  /** An int8 field as a Number (see int8At). */
  int8(tuple: number, field: number): number {
    const slot = tuple * this.fields + field;
    return int8At(this.bytes, this.offsets[slot]!, this.lengths[slot]!);
  }

  /** An int8 exactly, as a bigint. */
  int8Exact(tuple: number, field: number): bigint {
    return this.bytes.readBigInt64BE(this.offsets[tuple * this.fields + field]!);
  }

  /** The `word`-th big-endian 32-bit word of a field (a uuid has four), as a signed int32. */
  word(tuple: number, field: number, word: number): number {
    return int32At(this.bytes, this.offsets[tuple * this.fields + field]! + 4 * word);
  }

  /** A text field, decoded as UTF-8 (the API's databases are UTF-8); null for NULL. */
  text(tuple: number, field: number): string | null {
    const slot = tuple * this.fields + field;
    const length = this.lengths[slot]!;
    if (length === NULL_LENGTH) return null;
    const at = this.offsets[slot]!;
    return this.bytes.toString('utf8', at, at + length);
  }
}

const enum Stage {
  Header,
  Tuples,
  Done,
}

/**
 * Feeds the complete tuples of a binary COPY stream to `onBatch`, a batch at a time. As a
 * CopySink it takes the stream as ranges of chunks; `end()` checks it ended where it should.
 * Every method throws on a malformed stream.
 */
export class BinaryCopyParser implements CopySink {
  private readonly batch: TupleBatch;
  /** Bytes carried between chunks (a tuple cut in two): the first `carryLength` of `carry`. */
  private carry = Buffer.alloc(0);
  private carryLength = 0;
  private stage = Stage.Header;
  /** Tuples seen, for the caller's counters. */
  rows = 0;
  /** Bytes received, COPY framing included. */
  bytes = 0;

  constructor(
    fieldCount: number,
    private readonly onBatch: (tuples: TupleBatch) => void,
  ) {
    this.batch = new TupleBatch(fieldCount);
  }

  /** Parses `chunk[start, end)`; the tuples framed in place go out by the next `flush()` at the latest. */
  write(bytes: Buffer, start = 0, end = bytes.length): void {
    this.bytes += end - start;
    if (this.carryLength > 0) {
      this.append(bytes, start, end);
      // Tuples framed in the carry must go out before the carry moves.
      this.flush();
      const used = this.parse(this.carry, 0, this.carryLength);
      this.flush();
      this.carry.copy(this.carry, 0, used, this.carryLength);
      this.carryLength -= used;
      return;
    }
    if (this.batch.bytes !== bytes) this.flush();
    const used = this.parse(bytes, start, end);
    if (used < end) this.append(bytes, used, end);
  }

  /** Hands the tuples framed so far to the consumer. */
  flush(): void {
    if (this.batch.size === 0) return;
    this.onBatch(this.batch);
    this.batch.size = 0;
  }

  /** Checks the stream ended where it should: after the trailer, nothing left over. */
  end(): void {
    this.flush();
    if (this.stage !== Stage.Done) throw new Error(`binary COPY stream ended early (${this.stage === Stage.Header ? 'no header' : 'no trailer'})`);
    if (this.carryLength > 0) throw new Error('binary COPY stream has data after its trailer');
  }

  private append(bytes: Buffer, start: number, end: number): void {
    const needed = this.carryLength + (end - start);
    if (needed > this.carry.length) {
      let size = Math.max(this.carry.length * 2, 4096);
      while (size < needed) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      this.carry.copy(grown, 0, 0, this.carryLength);
      this.carry = grown;
    }
    bytes.copy(this.carry, this.carryLength, start, end);
    this.carryLength = needed;
  }

  /** Frames what it can of `bytes[start, end)` into the batch; returns where it stopped. */
  private parse(bytes: Buffer, start: number, end: number): number {
    let at = start;
    if (this.stage === Stage.Header) {
      const size = headerSize(bytes, at, end);
      if (size === null) return at;
      at += size;
      this.stage = Stage.Tuples;
    }
    if (this.stage === Stage.Done) {
      if (at < end) throw new Error('binary COPY stream has data after its trailer');
      return at;
    }
    const batch = this.batch;
    batch.bytes = bytes;
    const { offsets, lengths, fields } = batch;
    for (;;) {
      if (at + 2 > end) return at;
      const count = (bytes[at]! << 8) | bytes[at + 1]!;
      if (count === TRAILER) {
        this.stage = Stage.Done;
        if (at + 2 !== end) throw new Error('binary COPY stream has data after its trailer');
        return end;
      }
      if (count !== fields) throw new Error(`binary COPY tuple has ${count} fields, expected ${fields}`);
      let cursor = at + 2;
      const slot = batch.size * fields;
      let field = 0;
      for (; field < fields && cursor + 4 <= end; field++) {
        const length = int32At(bytes, cursor);
        cursor += 4;
        offsets[slot + field] = cursor;
        lengths[slot + field] = length;
        if (length > 0) cursor += length;
      }
      if (field < fields || cursor > end) return at;
      at = cursor;
      this.rows++;
      if (++batch.size === TupleBatch.SIZE) this.flush();
    }
  }
}

/** The header's length once it is all in `bytes[at, end)`, or null while it is not. */
function headerSize(bytes: Buffer, at: number, end: number): number | null {
  if (end - at < FIXED_HEADER_BYTES) return null;
  if (!bytes.subarray(at, at + SIGNATURE.length).equals(SIGNATURE)) throw new Error('not a binary COPY stream (bad signature)');
  const size = FIXED_HEADER_BYTES + int32At(bytes, at + SIGNATURE.length + 4);
  return end - at >= size ? size : null;
}
