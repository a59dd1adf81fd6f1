/**
 * Per user: executions per top-users need (a period and a task_type filter) with their
 * finished count, and the last start, for the top users and the users' activity. Memory is
 * a few numbers per user and need, never per row.
 */
import type { UuidDictionary } from '../dictionary.js';
import { type ExecutionRow, type Fold, StatusKind, type StatusKinds } from '../rows.js';

export interface UserRunsNeed {
  /** Starts at or after this (µs) count; null: every execution, NULL start included. */
  readonly cutoff: number | null;
}

export interface RankedUser {
  /** Index in the pass's user dictionary. */
  readonly user: number;
  readonly runs: number;
  readonly finished: number;
}

export interface UserRuns {
  /** The users ranked for need `need`: most runs first, ties by user id; at most `limit`. */
  top(need: number, limit: number): RankedUser[];
  /** Users with an execution started in the period (any script), as dictionary indexes. */
  activeUsers(cutoff: number | null): number[];
  /** Distinct users with any execution. */
  readonly distinctUsers: number;
  readonly dictionary: UuidDictionary;
}

/** lastStart of a user never seen, and of one seen only with NULL starts. */
const UNSEEN = Number.NEGATIVE_INFINITY;
const SEEN_WITHOUT_START = -Number.MAX_VALUE;

export class UserRunsFold implements Fold<UserRuns> {
  private capacity = 1024;
  /**
   * One record per user, side by side so a row touches one or two cache lines: the latest
   * start (UNSEEN or SEEN_WITHOUT_START when there is none), then runs and finished per need.
   */
  private records: Float64Array;
  private readonly stride: number;

  constructor(
    private readonly needs: readonly UserRunsNeed[],
    /** Needs whose filter matches each script index (the no-filter needs match every script in `script`). */
    private readonly needsOfScript: (script: number) => Int32Array,
    private readonly kinds: StatusKinds,
    private readonly dictionary: UuidDictionary,
  ) {
    this.stride = 1 + 2 * needs.length;
    this.records = this.allocate(this.capacity);
  }

  private allocate(capacity: number): Float64Array {
    const records = new Float64Array(capacity * this.stride);
    for (let user = 0; user < capacity; user++) records[user * this.stride] = UNSEEN;
    return records;
  }

  add(row: ExecutionRow): void {
    const user = row.user;
    if (user < 0) return;
    if (user >= this.capacity) this.grow(user);
    const records = this.records;
    const at = user * this.stride;
    const last = records[at]!;
    if (row.start > last) records[at] = row.start;
    else if (last === UNSEEN) records[at] = SEEN_WITHOUT_START;
    if (row.script < 0 || this.stride === 1) return;
    const needs = this.needsOfScript(row.script);
    if (needs.length === 0) return;
    const finished = this.kinds.known(row.status) === StatusKind.Finished;
    const finishedAt = at + 1 + this.needs.length;
    for (let index = 0; index < needs.length; index++) {
      const need = needs[index]!;
      const cutoff = this.needs[need]!.cutoff;
      if (cutoff !== null && !(row.start >= cutoff)) continue;
      records[at + 1 + need]!++;
      if (finished) records[finishedAt + need]!++;
    }
  }

  private grow(user: number): void {
    let capacity = this.capacity * 2;
    while (capacity <= user) capacity *= 2;
    const records = this.allocate(capacity);
    records.set(this.records);
    this.records = records;
    this.capacity = capacity;
  }

  result(): UserRuns {
    const { dictionary, stride, records } = this;
    const users = dictionary.size;
    const half = this.needs.length;
    const lastStart = (user: number) => records[user * stride]!;
    let distinct = 0;
    for (let user = 0; user < users; user++) if (lastStart(user) !== UNSEEN) distinct++;
    const tops = new Map<number, RankedUser[]>();
    return {
      dictionary,
      distinctUsers: distinct,
      top(need, limit) {
        const key = need * 1024 + limit;
        const cached = tops.get(key);
        if (cached) return cached;
        const runsOf = (user: number) => records[user * stride + 1 + need]!;
        const ranked: number[] = [];
        // Most runs first; ties by user id, so the order never depends on the dictionary's.
        const before = (a: number, b: number) =>
          runsOf(a) > runsOf(b) || (runsOf(a) === runsOf(b) && dictionary.compare(a, b) < 0);
        for (let user = 0; user < users; user++) {
          if (runsOf(user) === 0) continue;
          if (ranked.length === limit && !before(user, ranked[limit - 1]!)) continue;
          let at = ranked.length === limit ? limit - 1 : ranked.length;
          while (at > 0 && before(user, ranked[at - 1]!)) {
            ranked[at] = ranked[at - 1]!;
            at--;
          }
          ranked[at] = user;
        }
        const result = ranked.map((user) => ({ user, runs: runsOf(user), finished: records[user * stride + 1 + half + need]! }));
        tops.set(key, result);
        return result;
      },
      activeUsers(cutoff) {
        const active: number[] = [];
        for (let user = 0; user < users; user++) {
          if (cutoff === null ? lastStart(user) !== UNSEEN : lastStart(user) >= cutoff) active.push(user);
        }
        return active;
      },
    };
  }
}
