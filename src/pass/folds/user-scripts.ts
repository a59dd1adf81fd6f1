/**
 * Every execution's (user, script) pair, kept in arrival order: once the pass knows who ranks
 * in a top list, the favourite tasks of those few users (their executions per script over all
 * time, unfiltered) are counted from it, without reading `execution` a second time. A pair
 * takes 4 bytes while the user and script numbers fit in 32 bits together, 8 after. Pairs
 * taken out (a batch of weight -1) go to a second log that the counts subtract.
 */
import type { ExecutionBatch, Fold } from '../rows.js';

/** Pairs per chunk: chunks are never copied as the log grows. */
const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;

export interface UserScripts {
  /** Each given user's executions per script (only scripts with some), by user number. */
  countsOf(users: readonly number[]): Map<number, Array<{ readonly script: number; readonly count: number }>>;
}

export class UserScriptLog implements Fold<UserScripts> {
  /** Packed pairs, `user << scriptBits | script`, while every pair fits; null once wide. */
  private packed: Uint32Array[] | null = [];
  /** The pairs as two numbers each, once one did not fit. */
  private users: Int32Array[] = [];
  private scripts: Int32Array[] = [];
  private length = 0;
  private maxUser = -1;
  private readonly scriptMask: number;
  private readonly userLimit: number;
  /** The pairs taken out (null: none yet). */
  private removed: UserScriptLog | null = null;
  /**
   * The counts per script of the users asked for so far, kept up to date as pairs come and go:
   * a pass kept between runs asks for the same few ranked users run after run, where a read of
   * the whole log each time would cost a read of every row.
   */
  private readonly counted = new Map<number, Map<number, number>>();

  /** `scriptBits`: bits for a script number, enough for the script table (a script beyond makes the log wide). */
  constructor(private readonly scriptBits: number) {
    this.scriptMask = 2 ** scriptBits - 1;
    this.userLimit = 2 ** (32 - scriptBits);
  }

  add(batch: ExecutionBatch): void {
    if (batch.weight < 0) (this.removed ??= new UserScriptLog(this.scriptBits)).append(batch);
    else this.append(batch);
    if (this.counted.size > 0) this.countAsked(batch);
  }

  /** Keeps the counts of the users asked for before up to date. */
  private countAsked(batch: ExecutionBatch): void {
    const { size, user, script, weight } = batch;
    for (let row = 0; row < size; row++) {
      const counts = this.counted.get(user[row]!);
      const rowScript = script[row]!;
      if (!counts || rowScript < 0) continue;
      const runs = (counts.get(rowScript) ?? 0) + weight;
      if (runs === 0) counts.delete(rowScript);
      else counts.set(rowScript, runs);
    }
  }

  /** Pairs logged, and of those taken out: the log only grows, so a state kept long is rebuilt when too much of it is dead. */
  get pairs(): { readonly logged: number; readonly removed: number } {
    return { logged: this.length, removed: this.removed?.length ?? 0 };
  }

  private append(batch: ExecutionBatch): void {
    const { size, user, script } = batch;
    for (let row = 0; row < size; row++) {
      const rowUser = user[row]!;
      const rowScript = script[row]!;
      if (rowUser < 0 || rowScript < 0) continue;
      if (rowUser > this.maxUser) this.maxUser = rowUser;
      const at = this.length & (CHUNK - 1);
      if (this.packed !== null && rowScript <= this.scriptMask && rowUser < this.userLimit) {
        if (at === 0) this.packed.push(new Uint32Array(CHUNK));
        this.packed[this.length >>> CHUNK_BITS]![at] = ((rowUser << this.scriptBits) | rowScript) >>> 0;
      } else {
        if (this.packed !== null) this.widen();
        if (at === 0) {
          this.users.push(new Int32Array(CHUNK));
          this.scripts.push(new Int32Array(CHUNK));
        }
        this.users[this.length >>> CHUNK_BITS]![at] = rowUser;
        this.scripts[this.length >>> CHUNK_BITS]![at] = rowScript;
      }
      this.length++;
    }
  }

  /** From 4 bytes a pair to 8: a pair came that does not fit. */
  private widen(): void {
    const packed = this.packed!;
    this.packed = null;
    packed.forEach((chunk) => {
      const users = new Int32Array(CHUNK);
      const scripts = new Int32Array(CHUNK);
      for (let at = 0; at < CHUNK; at++) {
        users[at] = chunk[at]! >>> this.scriptBits;
        scripts[at] = chunk[at]! & this.scriptMask;
      }
      this.users.push(users);
      this.scripts.push(scripts);
    });
  }

  result(): UserScripts {
    return {
      countsOf: (wanted) => {
        const users = [...new Set(wanted)].filter((user) => user <= this.maxUser);
        const missing = users.filter((user) => !this.counted.has(user));
        if (missing.length > 0) {
          const logged = this.scan(missing);
          const removed = this.removed?.scan(missing);
          missing.forEach((user, slot) => {
            const counts = logged[slot]!;
            removed?.[slot]!.forEach((runs, script) => {
              const left = counts.get(script)! - runs;
              if (left === 0) counts.delete(script);
              else counts.set(script, left);
            });
            this.counted.set(user, counts);
          });
        }
        return new Map(users.map((user) => [user, [...this.counted.get(user)!].map(([script, count]) => ({ script, count }))]));
      },
    };
  }

  /** Each user's pairs in this log, by script: one read of the log. */
  private scan(users: readonly number[]): Array<Map<number, number>> {
    const slotOf = new Int32Array(this.maxUser + 1).fill(-1);
    users.forEach((user, slot) => {
      if (user <= this.maxUser) slotOf[user] = slot;
    });
    const perUser = users.map(() => new Map<number, number>());
    const count = (user: number, script: number) => {
      const slot = slotOf[user]!;
      if (slot >= 0) perUser[slot]!.set(script, (perUser[slot]!.get(script) ?? 0) + 1);
    };
    for (let index = 0; index < this.length; index++) {
      const chunk = index >>> CHUNK_BITS;
      const at = index & (CHUNK - 1);
      if (this.packed !== null) {
        const pair = this.packed[chunk]![at]!;
        count(pair >>> this.scriptBits, pair & this.scriptMask);
      } else {
        count(this.users[chunk]![at]!, this.scripts[chunk]![at]!);
      }
    }
    return perUser;
  }
}
