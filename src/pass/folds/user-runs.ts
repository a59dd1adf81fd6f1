/**
 * Per user: executions per top-users need (a period and a task_type filter) with their
 * finished count, and the last start, for the top users and the users' activity. Memory is
 * a few numbers per user and need, never per row.
 *
 * Users are the many (100,000 and more) and come in no order, so each row costs a cache
 * miss. To keep it to one: the hash slots (a uuid's first word and its record's number) are
 * small enough to stay in cache, and a user's record holds its uuid next to its counts, so
 * checking the match and counting touch the same cache line.
 */
import { slotCapacity, type UuidDictionary, uuidSlot, uuidText } from '../dictionary.js';
import { type ExecutionBatch, type Fold, StatusKind } from '../rows.js';

export interface UserRunsNeed {
  /** Starts at or after this (µs) count; null: every execution, NULL start included. */
  readonly cutoff: number | null;
}

export interface RankedUser {
  /** The user's number in this pass (see UserRuns). */
  readonly user: number;
  readonly runs: number;
  readonly finished: number;
}

/** What the fold knows of the users; a user is numbered 0, 1, 2, … in the order first seen. */
export interface UserRuns {
  /** The users ranked for need `need`: most runs first, ties by user id; at most `limit`. */
  top(need: number, limit: number): RankedUser[];
  /** Distinct users with any execution: users are numbered 0 … distinctUsers - 1. */
  readonly distinctUsers: number;
  /** Whether a user has an execution started at or after `cutoff` (null: any execution, NULL start included). */
  activeSince(user: number, cutoff: number | null): boolean;
  /** The uuid text of a user. */
  idOf(user: number): string;
  /** The index of a user's uuid in another dictionary (-1 when absent). */
  indexIn(other: UuidDictionary, user: number): number;
}

/** lastStart of a user seen only with NULL starts. */
const SEEN_WITHOUT_START = -Number.MAX_VALUE;
// A record, in int32 units: the uuid's four words, two pads, the latest start (a float64),
// then runs and finished (int32) per need.
const LAST_START = 4;
const COUNTS = 6;
// A slot, in int32 units: the uuid's first word, then its record's number + 1 (0: empty).
const SLOT = 2;

/** Which needs count each script, flattened: needs of script s are `list[first[s] … first[s + 1])`. */
export interface NeedsByScript {
  readonly first: Int32Array;
  readonly list: Int32Array;
}

export class UserRunsFold implements Fold<UserRuns> {
  private readonly stride: number;
  /** Each need's cutoff, and whether it has none (then NULL starts count too). */
  private readonly cutoffs: Float64Array;
  private readonly unbounded: Uint8Array;
  private slots: Int32Array;
  private slotMask: number;
  private i32!: Int32Array;
  private f64!: Float64Array;
  private size = 0;

  constructor(
    needs: readonly UserRunsNeed[],
    /** The needs whose filter matches each script index (the no-filter needs match every script in `script`); scripts beyond it match none. */
    private readonly needsOfScript: NeedsByScript,
    /** Users expected: the tables start that big, instead of doubling up to it. */
    expected = 64 * 1024,
  ) {
    // Always even, so every record's float64 stays aligned.
    this.stride = COUNTS + 2 * needs.length;
    this.cutoffs = Float64Array.from(needs, (need) => need.cutoff ?? Number.NEGATIVE_INFINITY);
    this.unbounded = Uint8Array.from(needs, (need) => (need.cutoff === null ? 1 : 0));
    const capacity = slotCapacity(expected);
    this.slots = new Int32Array(SLOT * capacity);
    this.slotMask = capacity - 1;
    this.allocateRecords(Math.max(expected, 16));
  }

  private allocateRecords(count: number): void {
    const records = new ArrayBuffer(count * this.stride * 4);
    if (this.i32) new Int32Array(records).set(this.i32);
    this.i32 = new Int32Array(records);
    this.f64 = new Float64Array(records);
  }

  /**
   * Fills `batch.user` with each row's user number. First every row's home slot and record
   * are read, one independent load after another (their misses overlap); then each row is
   * checked against them, with the full look-up (or an insert) only where that missed.
   */
  resolve(batch: ExecutionBatch): void {
    const { slotMask, stride } = this;
    const { size, userWords: words, hasUser, user } = batch;
    const slots = this.slots;
    let touched = 0;
    for (let row = 0; row < size; row++) {
      if (hasUser[row] === 0) continue;
      const w = row * 4;
      const slot = uuidSlot(words[w]!, words[w + 1]!, words[w + 2]!, words[w + 3]!, slotMask);
      const number = slots[slot * SLOT + 1]!;
      const found = number > 0 && slots[slot * SLOT] === words[w] ? number - 1 : -1;
      user[row] = found;
      if (found >= 0) touched ^= this.i32[found * stride + 1]!;
    }
    this.touched = touched;
    for (let row = 0; row < size; row++) {
      if (hasUser[row] === 0) {
        user[row] = -1;
        continue;
      }
      const w = row * 4;
      const found = user[row]!;
      const { i32 } = this;
      const at = found * stride;
      // The home slot's record is the user's if its other words agree (records never move).
      if (found >= 0 && i32[at + 1] === words[w + 1] && i32[at + 2] === words[w + 2] && i32[at + 3] === words[w + 3]) continue;
      user[row] = this.find(words[w]!, words[w + 1]!, words[w + 2]!, words[w + 3]!);
    }
  }

  /** Keeps the first loop's loads from being optimised away. */
  private touched = 0;

  /** The number of the user with these words, added when new. */
  find(w0: number, w1: number, w2: number, w3: number): number {
    const { slots, slotMask, i32, stride } = this;
    let slot = uuidSlot(w0, w1, w2, w3, slotMask);
    for (;;) {
      const number = slots[slot * SLOT + 1]!;
      if (number === 0) break;
      if (slots[slot * SLOT] === w0) {
        const at = (number - 1) * stride;
        if (i32[at + 1] === w1 && i32[at + 2] === w2 && i32[at + 3] === w3) return number - 1;
      }
      slot = (slot + 1) & slotMask;
    }
    return this.insert(slot, w0, w1, w2, w3);
  }

  private insert(slot: number, w0: number, w1: number, w2: number, w3: number): number {
    const user = this.size;
    const at = user * this.stride;
    if (at + this.stride > this.i32.length) this.allocateRecords(2 * this.size);
    const { i32 } = this;
    i32[at] = w0;
    i32[at + 1] = w1;
    i32[at + 2] = w2;
    i32[at + 3] = w3;
    this.f64[(at + LAST_START) / 2] = Number.NEGATIVE_INFINITY;
    this.slots[slot * SLOT] = w0;
    this.slots[slot * SLOT + 1] = ++this.size;
    if (2 * this.size > this.slotMask + 1) this.rehash();
    return user;
  }

  /** Doubles the slots; records stay where they are. */
  private rehash(): void {
    const capacity = 2 * (this.slotMask + 1);
    this.slots = new Int32Array(SLOT * capacity);
    this.slotMask = capacity - 1;
    const { i32, stride } = this;
    for (let record = 0; record < this.size; record++) {
      const at = record * stride;
      let slot = uuidSlot(i32[at]!, i32[at + 1]!, i32[at + 2]!, i32[at + 3]!, this.slotMask);
      while (this.slots[slot * SLOT + 1] !== 0) slot = (slot + 1) & this.slotMask;
      this.slots[slot * SLOT] = i32[at]!;
      this.slots[slot * SLOT + 1] = record + 1;
    }
  }

  /** Counts each row of `batch` (resolved first) for its user. */
  add(batch: ExecutionBatch): void {
    const { size, user, start, script, kind } = batch;
    const { stride, cutoffs, unbounded } = this;
    const { first, list } = this.needsOfScript;
    const needCount = cutoffs.length;
    const scripts = first.length - 1;
    for (let row = 0; row < size; row++) {
      const rowUser = user[row]!;
      if (rowUser < 0) continue;
      const at = rowUser * stride;
      const f64 = this.f64;
      const rowStart = start[row]!;
      const last = f64[(at + LAST_START) / 2]!;
      if (rowStart > last) f64[(at + LAST_START) / 2] = rowStart;
      else if (last === Number.NEGATIVE_INFINITY) f64[(at + LAST_START) / 2] = SEEN_WITHOUT_START;
      const rowScript = script[row]!;
      if (rowScript < 0 || rowScript >= scripts) continue;
      const i32 = this.i32;
      const finished = kind[row] === StatusKind.Finished;
      for (let index = first[rowScript]!; index < first[rowScript + 1]!; index++) {
        const need = list[index]!;
        if (!(rowStart >= cutoffs[need]!) && unbounded[need] === 0) continue;
        i32[at + COUNTS + need]!++;
        if (finished) i32[at + COUNTS + needCount + need]!++;
      }
    }
  }

  result(): UserRuns {
    const { i32, f64, stride, size } = this;
    const needCount = this.cutoffs.length;
    // Users are numbered by their records, in the order first seen.
    const lastStart = (user: number) => f64[(user * stride + LAST_START) / 2]!;
    const words = (user: number) => i32.subarray(user * stride, user * stride + 4);
    /** Orders users as their uuid text sorts: the words unsigned, in order. */
    const compareIds = (a: number, b: number) => {
      for (let word = 0; word < 4; word++) {
        const difference = (i32[a * stride + word]! >>> 0) - (i32[b * stride + word]! >>> 0);
        if (difference !== 0) return difference;
      }
      return 0;
    };
    const tops = new Map<number, RankedUser[]>();
    return {
      // Every user was met in a row, so has a last start (SEEN_WITHOUT_START when all were NULL).
      distinctUsers: size,
      activeSince(user, cutoff) {
        return cutoff === null || lastStart(user) >= cutoff;
      },
      idOf(user) {
        return uuidText(words(user));
      },
      indexIn(other, user) {
        const at = user * stride;
        return other.find(i32[at]!, i32[at + 1]!, i32[at + 2]!, i32[at + 3]!);
      },
      top(need, limit) {
        const key = need * 1024 + limit;
        const cached = tops.get(key);
        if (cached) return cached;
        const runsOf = (user: number) => i32[user * stride + COUNTS + need]!;
        const ranked: number[] = [];
        // Most runs first; ties by user id, so the order never depends on the table's.
        const before = (a: number, b: number) => runsOf(a) > runsOf(b) || (runsOf(a) === runsOf(b) && compareIds(a, b) < 0);
        for (let user = 0; user < size; user++) {
          if (runsOf(user) === 0) continue;
          if (ranked.length === limit && !before(user, ranked[limit - 1]!)) continue;
          let at = ranked.length === limit ? limit - 1 : ranked.length;
          while (at > 0 && before(user, ranked[at - 1]!)) {
            ranked[at] = ranked[at - 1]!;
            at--;
          }
          ranked[at] = user;
        }
        const result = ranked.map((user) => ({
          user,
          runs: runsOf(user),
          finished: i32[user * stride + COUNTS + needCount + need]!,
        }));
        tops.set(key, result);
        return result;
      },
    };
  }
}
