/**
 * Dictionary encoding for the pass: each distinct uuid (or status) seen gets a small dense
 * index, so the folds keep typed arrays instead of maps keyed by strings, and a row costs
 * a hash probe on the bytes it arrived as, not a string.
 */
import type { TupleReader } from './copy-parser.js';

const EMPTY = -1;

/** The canonical text of a uuid given by its four (signed) words. */
export function uuidText(words: ArrayLike<number>): string {
  const hex = Array.from({ length: 4 }, (_, word) => (words[word]! >>> 0).toString(16).padStart(8, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
/** The home slot of a uuid given by its four words, in a table of `mask + 1` slots (uuids are random enough that mixing the words spreads them well). */
export function uuidSlot(w0: number, w1: number, w2: number, w3: number, mask: number): number {
  return (Math.imul(w0 ^ w3, 0x9e3779b1) ^ w1 ^ w2) & mask;
}

/** Slots (a power of two, at least 2048) for `expected` entries at most half full. */
export function slotCapacity(expected: number): number {
  let capacity = 2048;
  while (capacity < 2 * expected) capacity *= 2;
  return capacity;
}

/** A slot holds the uuid's four words and its index + 1 (0: empty), side by side: one cache line per probe. */
const SLOT = 5;

/** Open-addressing hash table from a uuid's four 32-bit words to an index (0, 1, 2, …). */
export class UuidDictionary {
  /** Slots of SLOT int32s; words are kept signed so they stay small integers. */
  private slots: Int32Array;
  private slotMask: number;
  /** Four words per entry, in index order (for text, ordering and joins). */
  private words: Int32Array;
  size = 0;

  /** `expected` entries fit without growing (it grows past them as needed). */
  constructor(expected = 1024) {
    const capacity = slotCapacity(expected);
    this.slots = new Int32Array(SLOT * capacity);
    this.slotMask = capacity - 1;
    this.words = new Int32Array(4 * Math.max(expected, 16));
  }

  /** The index of the uuid in `field` of the tuple, adding it when new. */
  indexOf(tuple: TupleReader, field: number): number {
    return this.lookup(tuple.word(field, 0), tuple.word(field, 1), tuple.word(field, 2), tuple.word(field, 3), true);
  }

  /** The index of a uuid given as text, or -1 when absent (`add` inserts it). */
  indexOfText(uuid: string, add = false): number {
    const hex = uuid.replaceAll('-', '');
    if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a uuid: ${JSON.stringify(uuid)}`);
    const word = (index: number) => Number.parseInt(hex.slice(index * 8, index * 8 + 8), 16) | 0;
    return this.lookup(word(0), word(1), word(2), word(3), add);
  }

  /** The index of the uuid given by its four (signed) words, or -1. */
  find(w0: number, w1: number, w2: number, w3: number): number {
    return this.lookup(w0, w1, w2, w3, false);
  }

  private lookup(w0: number, w1: number, w2: number, w3: number, add: boolean): number {
    const slots = this.slots;
    let slot = uuidSlot(w0, w1, w2, w3, this.slotMask);
    for (;;) {
      const at = slot * SLOT;
      const stored = slots[at + 4]!;
      if (stored === 0) break;
      if (slots[at] === w0 && slots[at + 1] === w1 && slots[at + 2] === w2 && slots[at + 3] === w3) return stored - 1;
      slot = (slot + 1) & this.slotMask;
    }
    if (!add) return EMPTY;
    const index = this.size++;
    if (4 * this.size > this.words.length) {
      const grown = new Int32Array(this.words.length * 2);
      grown.set(this.words);
      this.words = grown;
    }
    const wordsAt = 4 * index;
    this.words[wordsAt] = w0;
    this.words[wordsAt + 1] = w1;
    this.words[wordsAt + 2] = w2;
    this.words[wordsAt + 3] = w3;
    this.place(slot, w0, w1, w2, w3, index);
    if (2 * this.size > this.slotMask + 1) this.rehash();
    return index;
  }

  private place(slot: number, w0: number, w1: number, w2: number, w3: number, index: number): void {
    const at = slot * SLOT;
    this.slots[at] = w0;
    this.slots[at + 1] = w1;
    this.slots[at + 2] = w2;
    this.slots[at + 3] = w3;
    this.slots[at + 4] = index + 1;
  }

  /** Doubles the slots, keeping the table at most half full. */
  private rehash(): void {
    const capacity = (this.slotMask + 1) * 2;
    this.slots = new Int32Array(SLOT * capacity);
    this.slotMask = capacity - 1;
    for (let index = 0; index < this.size; index++) {
      const at = 4 * index;
      const [w0, w1, w2, w3] = [this.words[at]!, this.words[at + 1]!, this.words[at + 2]!, this.words[at + 3]!];
      let slot = uuidSlot(w0, w1, w2, w3, this.slotMask);
      while (this.slots[slot * SLOT + 4] !== 0) slot = (slot + 1) & this.slotMask;
      this.place(slot, w0, w1, w2, w3, index);
    }
  }
}

/**
 * Statuses (short texts, a handful of them) to indexes; index 0 is NULL. Looks a status up
 * in a table by its length and first byte, then checks every byte; collisions fall back to a map.
 */
export class StatusDictionary {
  readonly names: Array<string | null> = [null];
  private readonly bytes: Buffer[] = [Buffer.alloc(0)];
  /** Index + 1 by (length, first byte), for lengths below SHAPE_LENGTHS; 0 when unclaimed. */
  private readonly byShape = new Int32Array(SHAPE_LENGTHS * 256);
  private readonly byText = new Map<string, number>();

  indexOf(tuple: TupleReader, field: number): number {
    const length = tuple.lengths[field]!;
    if (length < 0) return 0;
    const at = tuple.offsets[field]!;
    const buffer = tuple.buffer;
    const shape = shapeOf(length, length > 0 ? buffer[at]! : 0);
    const candidate = shape < 0 ? -1 : this.byShape[shape]! - 1;
    if (candidate >= 0 && sameBytes(this.bytes[candidate]!, buffer, at, length)) return candidate;
    return this.add(tuple.text(field)!, shape);
  }

  /** The index of a status given as text (added when new). */
  indexOfText(name: string): number {
    const encoded = Buffer.from(name, 'utf8');
    return this.add(name, shapeOf(encoded.length, encoded[0] ?? 0));
  }

  private add(name: string, shape: number): number {
    let index = this.byText.get(name);
    if (index === undefined) {
      index = this.names.length;
      this.names.push(name);
      this.bytes.push(Buffer.from(name, 'utf8'));
      this.byText.set(name, index);
    }
    // The first status of a shape keeps it; the others are found through the map.
    if (shape >= 0 && this.byShape[shape] === 0) this.byShape[shape] = index + 1;
    return index;
  }
}

/** Statuses are short (the API's column is varchar(20)); longer ones go through the map. */
const SHAPE_LENGTHS = 64;

function shapeOf(length: number, firstByte: number): number {
  return length < SHAPE_LENGTHS ? length * 256 + firstByte : -1;
}

/** Whether `buffer[at, at + length)` holds exactly `expected` (a loop: statuses are a few bytes). */
function sameBytes(expected: Buffer, buffer: Buffer, at: number, length: number): boolean {
  if (expected.length !== length) return false;
  for (let index = 0; index < length; index++) if (expected[index] !== buffer[at + index]) return false;
  return true;
}
