/**
 * The row number of each execution id, for a million rows and more kept for hours: ids as
 * four words per row, and an open-addressing table of row numbers over them. The pass's
 * UuidDictionary keeps each uuid's words in its slot too (one cache line per probe, for
 * speed in the COPY pass); at a million ids and half-full slots that is 84 MB, where this is
 * 16 MB of words and 8 MB of slots (measured: docs/performance.md).
 */
import { slotCapacity, uuidSlot, uuidText } from '../pass/dictionary.js';

export class IdIndex {
  /** Row + 1 by slot (0: empty), at most half full. */
  private slots: Int32Array;
  private mask: number;
  private words: Int32Array;
  size = 0;
  /** Rows 0 … indexed - 1 are in the slots; appended rows wait for the first look-up. */
  private indexed = 0;

  constructor(expected: number) {
    const capacity = slotCapacity(expected);
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.words = new Int32Array(4 * Math.max(16, expected));
  }

  /** Adds a row for an id known to be new, without looking it up (a whole table's primary keys). */
  append(w0: number, w1: number, w2: number, w3: number): number {
    return this.push(w0, w1, w2, w3);
  }

  /** The row of the id with these words, added after the others when new. */
  add(w0: number, w1: number, w2: number, w3: number): number {
    this.indexAppended();
    const { slots, words } = this;
    let slot = uuidSlot(w0, w1, w2, w3, this.mask);
    for (;;) {
      const row = slots[slot]! - 1;
      if (row < 0) break;
      const at = 4 * row;
      if (words[at] === w0 && words[at + 1] === w1 && words[at + 2] === w2 && words[at + 3] === w3) return row;
      slot = (slot + 1) & this.mask;
    }
    const row = this.push(w0, w1, w2, w3);
    this.indexed = this.size;
    slots[slot] = row + 1;
    if (2 * this.size > slots.length) this.rehash();
    return row;
  }

  private push(w0: number, w1: number, w2: number, w3: number): number {
    const row = this.size++;
    if (4 * this.size > this.words.length) {
      const grown = new Int32Array(2 * this.words.length);
      grown.set(this.words);
      this.words = grown;
    }
    const at = 4 * row;
    this.words[at] = w0;
    this.words[at + 1] = w1;
    this.words[at + 2] = w2;
    this.words[at + 3] = w3;
    return row;
  }

  /** Puts the appended rows in the slots (all at once: the first look-up after a load). */
  private indexAppended(): void {
    if (this.indexed === this.size) return;
    while (2 * this.size > this.slots.length) {
      this.slots = new Int32Array(2 * this.slots.length);
      this.mask = this.slots.length - 1;
      this.indexed = 0;
    }
    if (this.indexed === 0) this.slots.fill(0);
    this.place(this.slots, this.mask, this.indexed, this.size);
    this.indexed = this.size;
  }

  private place(slots: Int32Array, mask: number, from: number, to: number): void {
    const words = this.words;
    for (let row = from; row < to; row++) {
      const at = 4 * row;
      let slot = uuidSlot(words[at]!, words[at + 1]!, words[at + 2]!, words[at + 3]!, mask);
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = row + 1;
    }
  }

  /** The row of an id given as text, or -1. */
  rowOfText(id: string): number {
    const hex = id.replaceAll('-', '');
    if (!/^[0-9a-f]{32}$/i.test(hex)) return -1;
    const word = (index: number) => Number.parseInt(hex.slice(8 * index, 8 * index + 8), 16) | 0;
    return this.rowOf(word(0), word(1), word(2), word(3));
  }

  /** The row of the id with these words, or -1 (never added). */
  rowOf(w0: number, w1: number, w2: number, w3: number): number {
    this.indexAppended();
    let slot = uuidSlot(w0, w1, w2, w3, this.mask);
    for (;;) {
      const row = this.slots[slot]! - 1;
      if (row < 0) return -1;
      const at = 4 * row;
      if (this.words[at] === w0 && this.words[at + 1] === w1 && this.words[at + 2] === w2 && this.words[at + 3] === w3) return row;
      slot = (slot + 1) & this.mask;
    }
  }

  textOf(row: number): string {
    return uuidText(this.words.subarray(4 * row, 4 * row + 4));
  }

  private rehash(): void {
    const slots = new Int32Array(2 * this.slots.length);
    const mask = slots.length - 1;
    this.place(slots, mask, 0, this.size);
    this.slots = slots;
    this.mask = mask;
  }
}
