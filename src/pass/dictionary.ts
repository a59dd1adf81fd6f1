/**
 * Dictionary encoding for the passes: each distinct uuid (or short text: a status, a country)
 * seen gets a small dense index, so the folds keep typed arrays instead of maps keyed by
 * strings, and a row costs a hash probe on the bytes it arrived as, not a string.
 */
import type { TupleBatch } from './copy-parser.js';

const EMPTY = -1;

/** The canonical text of a uuid given by its four (signed) words. */
export function uuidText(words: ArrayLike<number>): string {
  const hex = Array.from({ length: 4 }, (_, word) => (words[word]! >>> 0).toString(16).padStart(8, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The four (signed) words of a uuid's text. */
export function uuidWords(uuid: string): [number, number, number, number] {
  const hex = uuid.replaceAll('-', '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a uuid: ${JSON.stringify(uuid)}`);
  const word = (index: number) => Number.parseInt(hex.slice(index * 8, index * 8 + 8), 16) | 0;
  return [word(0), word(1), word(2), word(3)];
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

  /** The index of the uuid in field `field` of tuple `tuple`, adding it when new. */
  indexOf(tuples: TupleBatch, tuple: number, field: number): number {
    return this.lookup(tuples.word(tuple, field, 0), tuples.word(tuple, field, 1), tuples.word(tuple, field, 2), tuples.word(tuple, field, 3), true);
  }

  /** The index of a uuid given as text, or -1 when absent (`add` inserts it). */
  indexOfText(uuid: string, add = false): number {
    const [w0, w1, w2, w3] = uuidWords(uuid);
    return this.lookup(w0, w1, w2, w3, add);
  }

  /** The index of the uuid given by its four (signed) words, or -1. */
  find(w0: number, w1: number, w2: number, w3: number): number {
    return this.lookup(w0, w1, w2, w3, false);
  }

  /** The index of the uuid given by its four words, added when new. */
  add(w0: number, w1: number, w2: number, w3: number): number {
    return this.lookup(w0, w1, w2, w3, true);
  }

  /** Word `word` (0 to 3) of the uuid at `index`. */
  wordOf(index: number, word: number): number {
    return this.words[4 * index + word]!;
  }

  /** The text of the uuid at `index`. */
  textOf(index: number): string {
    return uuidText(this.words.subarray(4 * index, 4 * index + 4));
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

/** Texts shorter than this have a shape, their length and first byte. */
const SHAPE_LENGTHS = 64;

/**
 * Short texts (statuses, countries: a few hundred distinct at most) to indexes; index 0 is
 * NULL. A text is found by its shape (a status is nearly always the one text of its length
 * and first byte), else by a hash of its bytes, and checked byte by byte: no string per row.
 */
export class TextDictionary {
  readonly names: Array<string | null> = [null];
  private readonly encoded: Buffer[] = [Buffer.alloc(0)];
  /** Index + 1 by hash slot (0: empty), at most half full. */
  private slots = new Int32Array(64);
  private readonly hashes: number[] = [0];
  /** The first text of each shape: index + 1 (0: none). */
  private readonly byShape = new Int32Array(SHAPE_LENGTHS * 256);

  /** The index of the text in field `field` of tuple `tuple` (0 for NULL), adding it when new. */
  indexOf(tuples: TupleBatch, tuple: number, field: number): number {
    const slot = tuple * tuples.fields + field;
    const length = tuples.lengths[slot]!;
    if (length < 0) return 0;
    const at = tuples.offsets[slot]!;
    const bytes = tuples.bytes;
    if (length < SHAPE_LENGTHS) {
      const candidate = this.byShape[length * 256 + (length > 0 ? bytes[at]! : 0)]! - 1;
      if (candidate > 0 && sameBytes(this.encoded[candidate]!, bytes, at, length)) return candidate;
    }
    const hash = hashBytes(bytes, at, at + length);
    const mask = this.slots.length - 1;
    for (let probe = hash & mask; ; probe = (probe + 1) & mask) {
      const index = this.slots[probe]! - 1;
      if (index < 0) return this.add(tuples.text(tuple, field)!, hash);
      if (this.hashes[index] === hash && sameBytes(this.encoded[index]!, bytes, at, length)) return index;
    }
  }

  /** The index of a text (added when new). */
  indexOfText(text: string): number {
    const encoded = Buffer.from(text, 'utf8');
    const hash = hashBytes(encoded, 0, encoded.length);
    const mask = this.slots.length - 1;
    for (let probe = hash & mask; ; probe = (probe + 1) & mask) {
      const index = this.slots[probe]! - 1;
      if (index < 0) return this.add(text, hash);
      if (this.names[index] === text) return index;
    }
  }

  private add(text: string, hash: number): number {
    const index = this.names.length;
    const encoded = Buffer.from(text, 'utf8');
    this.names.push(text);
    this.encoded.push(encoded);
    this.hashes.push(hash);
    const shape = encoded.length < SHAPE_LENGTHS ? encoded.length * 256 + (encoded[0] ?? 0) : -1;
    if (shape >= 0 && this.byShape[shape] === 0) this.byShape[shape] = index + 1;
    if (2 * index >= this.slots.length) this.slots = new Int32Array(this.slots.length * 2);
    const mask = this.slots.length - 1;
    // (Re)place every text: a new one is rare.
    this.slots.fill(0);
    for (let entry = 1; entry < this.names.length; entry++) {
      let probe = this.hashes[entry]! & mask;
      while (this.slots[probe] !== 0) probe = (probe + 1) & mask;
      this.slots[probe] = entry + 1;
    }
    return index;
  }
}

/** FNV-1a over `bytes[start, end)`. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let at = start; at < end; at++) hash = Math.imul(hash ^ bytes[at]!, 0x01000193);
  return hash >>> 0;
}

/** Whether `bytes[at, at + length)` holds exactly `expected` (a loop: these texts are short). */
function sameBytes(expected: Uint8Array, bytes: Uint8Array, at: number, length: number): boolean {
  if (expected.length !== length) return false;
  for (let index = 0; index < length; index++) if (expected[index] !== bytes[at + index]) return false;
  return true;
}
