/**
 * Per user: executions per start tier and `task_type` filter, with their finished count, and
 * the newest tier the user started in: the top users and the activity of every planned
 * window and filter add up from those (a window is a set of whole tiers). Memory is a few
 * numbers per user, never per row; a row adds one to a counter per filter its script matches.
 *
 * Users are the many (100,000 and more) and come in no order, so each row costs a cache
 * miss. To keep it to one: the hash slots (a uuid's first word and its record's number) are
 * small enough to stay in cache, and a user's record holds its uuid next to its counts, so
 * checking the match and counting touch the same cache line.
 */
import { slotCapacity, type UuidDictionary, uuidSlot, uuidText } from '../dictionary.js';
import { type ExecutionBatch, type Fold, StatusKind } from '../rows.js';

export interface RankedUser {
  /** The user's number in this pass (see UserRuns). */
  readonly user: number;
  readonly runs: number;
  readonly finished: number;
}

/** What the fold knows of the users; a user is numbered 0, 1, 2, … in the order first seen. */
export interface UserRuns {
  /** The users with most executions started in tiers 0 … `lastTier` of scripts filter `filter` matches, ties by user id; at most `limit`. */
  top(filter: number, lastTier: number, limit: number): RankedUser[];
  /** Distinct users with any execution. */
  readonly distinctUsers: number;
  /** Users are numbered 0 … numbered - 1; a user whose executions were all taken out keeps its number (newestTier: none). */
  readonly numbered: number;
  /** The newest tier a user started an execution in (active in a window that includes it); the tier count when none. */
  newestTier(user: number): number;
  /** The uuid text of a user. */
  idOf(user: number): string;
  /**
   * The index of every user's uuid in another dictionary, by user number (-1 when absent);
   * read only. The fold keeps it per dictionary, which only ever grows (an index once given
   * stays), so a kept fold asked again looks up only the users numbered since, and the
   * absent ones again when the dictionary grew.
   */
  indexesIn(other: UuidDictionary): Int32Array;
}

/** Which filters count each script, flattened: filters of script s are `list[first[s] … first[s + 1])`. */
export interface FiltersByScript {
  readonly first: Int32Array;
  readonly list: Int32Array;
}

// A record, in int32 units: the uuid's four words, the newest tier, the user's executions
// (signed folds), then runs and finished per (filter, tier); a signed fold's records end with
// the executions per tier (any script: the newest tier is then the first with some, which
// stays right when executions are taken out).
const NEWEST_TIER = 4;
const EXECUTIONS = 5;
const COUNTS = 6;
// A slot, in int32 units: the uuid's first word, then its record's number + 1 (0: empty).
const SLOT = 2;

export class UserRunsFold implements Fold<UserRuns> {
  private readonly stride: number;
  /** Counters per filter (one per tier), and where the finished counters start. */
  private readonly cells: number;
  private slots: Int32Array;
  private slotMask: number;
  private i32!: Int32Array;
  private size = 0;
  /** Users with an execution. */
  private live = 0;
  /** Where a record's executions per tier start. */
  private readonly tierRows: number;
  /** Each dictionary's indexes of the users, as far as they were asked for (see indexesIn). */
  private readonly joins = new WeakMap<UuidDictionary, { indexes: Int32Array; users: number; otherSize: number }>();

  constructor(
    /** The user tier of each start tier (user tiers are cut at some of the start cuts). */
    private readonly tierOfStartTier: Int32Array,
    private readonly tiers: number,
    filters: number,
    /** The filters that match each script index (the no-filter one matches every script in `script`); scripts beyond match none. */
    private readonly filtersOf: FiltersByScript,
    /** Users expected: the tables start that big, instead of doubling up to it. */
    expected = 64 * 1024,
    /** Whether rows may be taken out (batches of weight -1): records then count executions per tier. */
    private readonly signed = false,
  ) {
    this.cells = filters * tiers;
    this.tierRows = COUNTS + 2 * this.cells;
    // Always even: a record starts on a multiple of 8 bytes.
    this.stride = this.tierRows + (signed ? tiers + (tiers % 2) : 0);
    const capacity = slotCapacity(expected);
    this.slots = new Int32Array(SLOT * capacity);
    this.slotMask = capacity - 1;
    this.allocateRecords(Math.max(expected, 16));
  }

  /** See UserRuns.indexesIn: users 0 … users - 1. */
  private indexesIn(other: UuidDictionary, users: number): Int32Array {
    let kept = this.joins.get(other);
    if (!kept) {
      kept = { indexes: new Int32Array(Math.max(users, 16)), users: 0, otherSize: other.size };
      this.joins.set(other, kept);
    }
    const { i32, stride } = this;
    const find = (user: number) => other.find(i32[user * stride]!, i32[user * stride + 1]!, i32[user * stride + 2]!, i32[user * stride + 3]!);
    if (other.size !== kept.otherSize) {
      for (let user = 0; user < kept.users; user++) if (kept.indexes[user]! < 0) kept.indexes[user] = find(user);
      kept.otherSize = other.size;
    }
    if (users > kept.indexes.length) {
      const grown = new Int32Array(Math.max(users, 2 * kept.indexes.length));
      grown.set(kept.indexes);
      kept.indexes = grown;
    }
    for (let user = kept.users; user < users; user++) kept.indexes[user] = find(user);
    kept.users = Math.max(kept.users, users);
    return kept.indexes.subarray(0, users);
  }

  private allocateRecords(count: number): void {
    const grown = new Int32Array(count * this.stride);
    if (this.i32) grown.set(this.i32);
    this.i32 = grown;
  }

  /**
   * Fills `batch.user` with each row's user number. Users come in no order, so each row's
   * home slot and record are cache misses: they are read in two passes over the batch, one
   * independent load after another (the misses of many rows overlap, where a chain of slot
   * then record per row would wait twice a row); then each row is checked against them, with
   * the full look-up (or an insert) only where that missed.
   */
  resolve(batch: ExecutionBatch): void {
    const { slotMask, stride } = this;
    const { size, userWords: words, hasUser, user } = batch;
    const slots = this.slots;
    for (let row = 0; row < size; row++) {
      const w = row * 4;
      user[row] = hasUser[row] === 0 ? -1 : uuidSlot(words[w]!, words[w + 1]!, words[w + 2]!, words[w + 3]!, slotMask);
    }
    for (let row = 0; row < size; row++) {
      const slot = user[row]!;
      if (slot < 0) continue;
      const number = slots[slot * SLOT + 1]!;
      user[row] = number > 0 && slots[slot * SLOT] === words[row * 4] ? number - 1 : -2;
    }
    const i32 = this.i32;
    let touched = 0;
    for (let row = 0; row < size; row++) if (user[row]! >= 0) touched ^= i32[user[row]! * stride + 1]!;
    this.touched = touched;
    for (let row = 0; row < size; row++) {
      const found = user[row]!;
      if (found === -1) continue;
      const w = row * 4;
      const at = found * stride;
      // The home slot's record is the user's if its other words agree (records never move).
      if (found >= 0 && this.i32[at + 1] === words[w + 1] && this.i32[at + 2] === words[w + 2] && this.i32[at + 3] === words[w + 3]) continue;
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
    i32[at + NEWEST_TIER] = this.tiers;
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

  /** Counts each row of `batch` (resolved first) for its user; `batch.weight` -1 takes rows out. */
  add(batch: ExecutionBatch): void {
    const { size, user, startTier, script, kind, weight } = batch;
    const { stride, cells, tiers, tierOfStartTier, tierRows, signed } = this;
    const { first, list } = this.filtersOf;
    const scripts = first.length - 1;
    const i32 = this.i32;
    for (let row = 0; row < size; row++) {
      const rowUser = user[row]!;
      if (rowUser < 0) continue;
      const at = rowUser * stride;
      const tier = tierOfStartTier[startTier[row]!]!;
      if (signed) this.countExecution(at, tier, weight);
      else if (tier < i32[at + NEWEST_TIER]!) i32[at + NEWEST_TIER] = tier;
      const rowScript = script[row]!;
      if (rowScript < 0 || rowScript >= scripts) continue;
      const finished = kind[row] === StatusKind.Finished;
      for (let index = first[rowScript]!; index < first[rowScript + 1]!; index++) {
        const cell = at + COUNTS + list[index]! * tiers + tier;
        i32[cell]! += weight;
        if (finished) i32[cell + cells]! += weight;
      }
    }
  }

  /** A signed fold's count of a user's executions, per tier and in all: a user goes live with its first, and leaves with its last. */
  private countExecution(at: number, tier: number, weight: 1 | -1): void {
    const i32 = this.i32;
    i32[at + this.tierRows + tier]! += weight;
    const executions = (i32[at + EXECUTIONS]! += weight);
    if (executions === (weight > 0 ? 1 : 0)) this.live += weight;
  }

  /**
   * A result that later batches leave as it is (the fold is kept and moved on): the newest
   * tiers and the rankings named computed now. A user's number and uuid never change, so ids
   * are read from the records as they stand.
   */
  frozenResult(rankings: ReadonlyArray<{ readonly filter: number; readonly limit: number }>): UserRuns {
    const live = this.result();
    const newest = new Int32Array(this.size);
    for (let user = 0; user < this.size; user++) newest[user] = live.newestTier(user);
    const key = (filter: number, limit: number) => `${filter}/${limit}`;
    const tops = new Map(
      rankings.map(({ filter, limit }) => [key(filter, limit), Array.from({ length: this.tiers }, (_, tier) => live.top(filter, tier, limit))] as const),
    );
    return {
      distinctUsers: live.distinctUsers,
      numbered: live.numbered,
      newestTier: (user) => newest[user]!,
      idOf: (user) => live.idOf(user),
      indexesIn: (other) => this.indexesIn(other, live.numbered),
      top(filter, lastTier, limit) {
        const ranked = tops.get(key(filter, limit));
        if (!ranked) throw new Error(`top users of filter ${filter}, limit ${limit} were not ranked when the pass was taken`);
        return ranked[lastTier]!;
      },
    };
  }

  result(): UserRuns {
    const { i32, stride, size, tiers, cells, tierRows, signed } = this;
    const words = (user: number) => i32.subarray(user * stride, user * stride + 4);
    /** Orders users as their uuid text sorts: the words unsigned, in order. */
    const compareIds = (a: number, b: number) => {
      for (let word = 0; word < 4; word++) {
        const difference = (i32[a * stride + word]! >>> 0) - (i32[b * stride + word]! >>> 0);
        if (difference !== 0) return difference;
      }
      return 0;
    };
    /**
     * For a filter, the ranking of every window at once (window t: tiers 0 … t), from one loop
     * over the users summing their tiers as it goes; a user enters a window's ranking only when
     * it beats the last of a full one, so most users cost a comparison per window.
     */
    const rankEveryWindow = (filter: number, limit: number): RankedUser[][] => {
      const ranked = Array.from({ length: tiers }, () => [] as RankedUser[]);
      if (limit <= 0) return ranked;
      // Most runs first; ties by user id, so the order never depends on the table's.
      const before = (a: RankedUser, b: RankedUser) => a.runs > b.runs || (a.runs === b.runs && compareIds(a.user, b.user) < 0);
      for (let user = 0; user < size; user++) {
        const at = user * stride + COUNTS + filter * tiers;
        let runs = 0;
        let finished = 0;
        for (let tier = 0; tier < tiers; tier++) {
          runs += i32[at + tier]!;
          finished += i32[at + cells + tier]!;
          if (runs === 0) continue;
          const list = ranked[tier]!;
          if (list.length === limit && list[limit - 1]!.runs > runs) continue;
          const candidate = { user, runs, finished };
          if (list.length === limit && !before(candidate, list[limit - 1]!)) continue;
          let place = list.length === limit ? limit - 1 : list.length;
          while (place > 0 && before(candidate, list[place - 1]!)) {
            list[place] = list[place - 1]!;
            place--;
          }
          list[place] = candidate;
        }
      }
      return ranked;
    };
    const tops = new Map<string, RankedUser[][]>();
    return {
      distinctUsers: signed ? this.live : size,
      numbered: size,
      newestTier(user) {
        if (!signed) return i32[user * stride + NEWEST_TIER]!;
        const at = user * stride + tierRows;
        let tier = 0;
        while (tier < tiers && i32[at + tier] === 0) tier++;
        return tier;
      },
      idOf(user) {
        return uuidText(words(user));
      },
      indexesIn: (other) => this.indexesIn(other, size),
      top(filter, lastTier, limit) {
        const key = `${filter}/${limit}`;
        let ranked = tops.get(key);
        if (!ranked) {
          ranked = rankEveryWindow(filter, limit);
          tops.set(key, ranked);
        }
        return ranked[lastTier]!;
      },
    };
  }
}
