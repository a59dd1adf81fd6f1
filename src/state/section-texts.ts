/**
 * The section texts of schedule's runs from memory, kept from one run to the next: the
 * Assembler (src/stats/assemble.ts) gives a section's text again when everything it is built
 * from is the same (`inputs`: the pass's content version, the user rows' version and the rows
 * in the section's window, the top users' emails), instead of building and serialising it.
 * Bounded by the sections of the last run: a run's start drops every entry the last run did
 * not use.
 */

/** Sections built and reused, in all and by section name. */
export interface SectionCounts {
  built: number;
  reused: number;
  readonly bySection: Map<string, { built: number; reused: number }>;
}

interface KeptText {
  readonly inputs: readonly unknown[];
  readonly text: string;
}

/**
 * The text as one flat string. A serialised section is a rope of thousands of pieces (one per
 * concatenation, src/lib/pyjson.ts): kept across runs, each piece would be promoted to V8's old
 * space and traced by every full collection. Converting it to a number flattens it (V8 reads a
 * number from a flat string only); the number is thrown away.
 */
function flat(text: string): string {
  void Number(text);
  return text;
}

/** Whether two input lists are the same, item by item (objects by identity). */
const sameInputs = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((input, index) => Object.is(input, b[index]));

export class SectionTexts {
  /** The texts the last run used or built. */
  private last = new Map<string, KeptText>();
  /** The texts this run used or built. */
  private current = new Map<string, KeptText>();
  /** Since the state began: a test and a bench read them. */
  readonly counts: SectionCounts = { built: 0, reused: 0, bySection: new Map() };

  /** A new run: the texts the last run did not use are dropped. */
  beginRun(): void {
    this.last = this.current;
    this.current = new Map();
  }

  /** The text kept under `key` if it was built from the same `inputs`, else undefined. */
  get(key: string, inputs: readonly unknown[]): string | undefined {
    const kept = this.current.get(key) ?? this.last.get(key);
    if (kept === undefined || !sameInputs(kept.inputs, inputs)) return undefined;
    this.current.set(key, kept);
    return kept.text;
  }

  /** Keeps `text`, built from `inputs`, under `key`. */
  set(key: string, inputs: readonly unknown[], text: string): void {
    this.current.set(key, { inputs, text: flat(text) });
  }

  /** Counts a section (by its name) built or reused. */
  count(section: string, reused: boolean): void {
    let counts = this.counts.bySection.get(section);
    if (counts === undefined) {
      counts = { built: 0, reused: 0 };
      this.counts.bySection.set(section, counts);
    }
    const field = reused ? 'reused' : 'built';
    counts[field] += 1;
    this.counts[field] += 1;
  }

  /** Entries held (the last run's and this run's). */
  get size(): number {
    return new Set([...this.last.keys(), ...this.current.keys()]).size;
  }
}

/** The section texts a memory source keeps (a MemoryState's), if it keeps any. */
export function sectionTextsOf(source: object | undefined): SectionTexts | undefined {
  const texts = source === undefined ? undefined : (source as { sections?: unknown }).sections;
  return texts instanceof SectionTexts ? texts : undefined;
}
