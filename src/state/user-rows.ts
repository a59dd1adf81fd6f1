/**
 * The `"user"` table kept in memory: the columns every user section reads (id, country,
 * created_at), one row per id, replaced whole by id. It is the LoadedUsers a COPY of the
 * table would give (src/pass/user-table.ts), so the user sections read it unchanged.
 */
import { lowerBound } from '../lib/sorted.js';
import type { TupleBatch } from '../pass/copy-parser.js';
import { TextDictionary, UuidDictionary } from '../pass/dictionary.js';
import { type LoadedUsers, type UsersByDay, usersByDay } from '../pass/user-table.js';

/** The columns kept, in the order every COPY of the state reads them. */
export const USER_FIELDS = ['id', 'country', 'created_at'] as const;
const [ID, COUNTRY, CREATED] = [0, 1, 2];
/** Instants kept per key by `keep`: more than the windows a run asks one key for. */
const KEPT_INSTANTS = 8;

export interface UserRowValues {
  readonly id: string;
  readonly country: string | null;
  /** µs since 2000-01-01 as read (NaN for NULL). */
  readonly createdAt: number;
}

export class UserRows implements LoadedUsers {
  readonly ids: UuidDictionary;
  private readonly countryNames = new TextDictionary();
  createdAt: Float64Array;
  country: Int32Array;
  readonly bytes = 0;
  /** Bumped by every upsert that changes a row (or adds one): what is computed from the rows is kept per version. */
  version = 0;
  private byDayKept: { readonly version: number; readonly value: UsersByDay } | null = null;
  private createdKept: { readonly version: number; readonly value: Float64Array } | null = null;
  /** Values computed from the users created since an instant, by key, a few instants each (see keep). */
  private readonly keptValues = new Map<string, Array<{ readonly version: number; since: number | null; readonly value: unknown }>>();

  constructor(expected = 1024) {
    this.ids = new UuidDictionary(expected);
    this.createdAt = new Float64Array(expected);
    this.country = new Int32Array(expected);
  }

  get count(): number {
    return this.ids.size;
  }

  /** Every country met, in the order met (index 0 of the dictionary is NULL). */
  get countries(): readonly string[] {
    return this.countryNames.names.slice(1) as string[];
  }

  /** Decodes a batch of tuples (fields in USER_FIELDS order) into place by id; returns how many were new. */
  upsert(tuples: TupleBatch, skip?: (tuple: number) => boolean): number {
    let added = 0;
    for (let tuple = 0; tuple < tuples.size; tuple++) {
      if (skip?.(tuple)) continue;
      const before = this.ids.size;
      const row = this.ids.add(tuples.word(tuple, ID, 0), tuples.word(tuple, ID, 1), tuples.word(tuple, ID, 2), tuples.word(tuple, ID, 3));
      if (row === before) {
        added++;
        this.ensureCapacity(row + 1);
      }
      // Beyond ±2^53 µs the Number is within 64 µs: it orders right against cutoffs (as the COPY pass reads it).
      const createdAt = tuples.isNull(tuple, CREATED) ? Number.NaN : tuples.int8(tuple, CREATED);
      const country = this.countryNames.indexOf(tuples, tuple, COUNTRY) - 1;
      if (row === before || !Object.is(this.createdAt[row], createdAt) || this.country[row] !== country) this.version++;
      this.createdAt[row] = createdAt;
      this.country[row] = country;
    }
    return added;
  }

  /** The rows by day of created_at (src/pass/user-table.ts), computed once per version. */
  byDay(): UsersByDay {
    if (this.byDayKept?.version !== this.version) this.byDayKept = { version: this.version, value: usersByDay(this) };
    return this.byDayKept.value;
  }

  /**
   * `compute()` of the users created since `since` (null: every user), kept by `key` for the
   * last few instants asked (a run asks one key for each of its windows): a value kept is
   * given again while the rows are the same version and no user was created between the
   * instant it was computed for and `since` (the window holds the same rows).
   */
  keep<T>(key: string, since: number | null, compute: () => T): T {
    let kept = this.keptValues.get(key);
    if (kept === undefined) {
      kept = [];
      this.keptValues.set(key, kept);
    }
    for (const entry of kept) {
      if (entry.version === this.version && this.sameUsersSince(entry.since, since)) {
        entry.since = since;
        return entry.value as T;
      }
    }
    const value = compute();
    const current = kept.filter((entry) => entry.version === this.version);
    if (current.length >= KEPT_INSTANTS) current.shift();
    current.push({ version: this.version, since, value });
    this.keptValues.set(key, current);
    return value;
  }

  /** Whether the users created since `a` are those created since `b`: none was created in between. */
  private sameUsersSince(a: number | null, b: number | null): boolean {
    if (a === b) return true;
    // All time holds the undated users too.
    if (a === null || b === null) return false;
    const created = this.createdSorted();
    return lowerBound(created, a) === lowerBound(created, b);
  }

  /** Every created_at (NULL left out), ascending; computed once per version. */
  private createdSorted(): Float64Array {
    if (this.createdKept?.version !== this.version) {
      const dated = this.createdAt.subarray(0, this.count).filter((micros) => micros === micros);
      this.createdKept = { version: this.version, value: dated.sort() };
    }
    return this.createdKept.value;
  }

  private ensureCapacity(rows: number): void {
    if (rows <= this.createdAt.length) return;
    const capacity = Math.max(rows, 2 * this.createdAt.length);
    const createdAt = new Float64Array(capacity);
    createdAt.set(this.createdAt);
    this.createdAt = createdAt;
    const country = new Int32Array(capacity);
    country.set(this.country);
    this.country = country;
  }

  valuesOf(row: number): UserRowValues {
    const country = this.country[row]!;
    return { id: this.ids.textOf(row), country: country < 0 ? null : this.countryNames.names[country + 1]!, createdAt: this.createdAt[row]! };
  }

  rowOf(id: string): number {
    return this.ids.indexOfText(id);
  }
}
