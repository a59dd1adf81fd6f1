/**
 * The folds signed (src/pass/folds/, DurationTable): rows added, then some of them taken out
 * (batches of weight -1), in a random order, must leave each fold reporting exactly what a
 * fresh fold of the rows left reports. Seeded fast-check properties on rows made here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DurationTable, SignedDurationTable } from '../../src/lib/pg-numeric.js';
import { TextDictionary, uuidWords } from '../../src/pass/dictionary.js';
import { ScriptTierFold } from '../../src/pass/folds/script-tiers.js';
import { StartHourFold } from '../../src/pass/folds/start-hours.js';
import { type ScriptClass, type Timeline, TimelineFold } from '../../src/pass/folds/timeline.js';
import { type UserRuns, UserRunsFold } from '../../src/pass/folds/user-runs.js';
import { UserScriptLog } from '../../src/pass/folds/user-scripts.js';
import type { SeriesTier } from '../../src/pass/plan.js';
import { ExecutionBatch, StatusKinds, tierOf } from '../../src/pass/rows.js';

const SEED = 2_424;
const RUNS = 60;
const HOUR = 3_600_000_000;
const DAY = 24 * HOUR;
const NOW = 834_000_000 * 1_000_000; // 2026-06-06 in µs since 2000
/** Start cuts newest first (last_day, last_week); tier 2 holds older and NULL starts. */
const CUTS = [NOW - DAY, NOW - 7 * DAY];
const STATUSES = [null, 'FINISHED', 'FAILED', 'CANCELLED', 'RUNNING', 'PENDING'] as const;
const USERS = ['00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000000', '7fffffff-ffff-4000-8000-000000000002'];

interface Row {
  readonly start: number;
  readonly end: number;
  readonly status: (typeof STATUSES)[number];
  readonly script: number;
  readonly user: number;
}

/** Times around the cuts and now, NULL, and durations from zero to past 2^53 µs (the exact path). */
const time = fc.oneof(
  fc.constant(Number.NaN),
  fc.integer({ min: NOW - 30 * DAY, max: NOW + 2 * DAY }),
  fc.constantFrom(...CUTS, NOW, NOW - DAY - 1),
);
const rowArbitrary: fc.Arbitrary<Row> = fc
  .record({
    start: time,
    duration: fc.oneof(fc.constant(Number.NaN), fc.constant(0), fc.integer({ min: -HOUR, max: 40 * DAY }), fc.constantFrom(1, 6_099, 6_100, 61e6, 61e10, 2 ** 53 + 2 ** 12)),
    status: fc.constantFrom(...STATUSES),
    script: fc.integer({ min: -1, max: 4 }),
    user: fc.integer({ min: -1, max: USERS.length - 1 }),
  })
  .map(({ start, duration, ...rest }) => ({ ...rest, start, end: start + duration }));

/** Rows, the order they go in, those taken out in the order they come out, and the batch size. */
const caseArbitrary = fc.array(rowArbitrary, { minLength: 1, maxLength: 300 }).chain((rows) => {
  const indexes = rows.map((_, index) => index);
  return fc.record({
    rows: fc.constant(rows),
    addOrder: fc.shuffledSubarray(indexes, { minLength: rows.length, maxLength: rows.length }),
    removeOrder: fc.shuffledSubarray(indexes),
    batch: fc.integer({ min: 1, max: 64 }),
  });
});

interface Feeder {
  add(batch: ExecutionBatch): void;
  resolve?(batch: ExecutionBatch): void;
}

/** Feeds rows as the pass does, `size` at a time, each batch with `weight`. */
function feed(fold: Feeder, statuses: TextDictionary, rows: readonly Row[], weight: 1 | -1, size = ExecutionBatch.SIZE): void {
  const kinds = new StatusKinds(statuses);
  for (let from = 0; from < rows.length; from += size) {
    const batch = new ExecutionBatch();
    batch.weight = weight;
    const part = rows.slice(from, from + size);
    batch.begin(part.length);
    part.forEach((row, at) => {
      batch.start[at] = row.start;
      batch.end[at] = row.end;
      batch.startTier[at] = tierOf(CUTS, row.start);
      batch.status[at] = row.status === null ? 0 : statuses.indexOfText(row.status);
      batch.kind[at] = kinds.kindOf(batch.status[at]!);
      batch.script[at] = row.script;
      batch.hasUser[at] = row.user < 0 ? 0 : 1;
      if (row.user >= 0) batch.userWords.set(uuidWords(USERS[row.user]!), 4 * at);
    });
    fold.resolve?.(batch);
    fold.add(batch);
  }
}

/**
 * For each case: a fold fed every row then the removed ones taken out, against a fresh fold
 * of the rows left; `report` turns a fold into what it reports (each fold its own statuses).
 */
function holdsAfterRemoval<F extends Feeder>(make: (statuses: TextDictionary) => F, report: (fold: F, statuses: TextDictionary) => unknown): void {
  fc.assert(
    fc.property(caseArbitrary, ({ rows, addOrder, removeOrder, batch }) => {
      const gone = new Set(removeOrder);
      const signedStatuses = new TextDictionary();
      const signed = make(signedStatuses);
      feed(signed, signedStatuses, addOrder.map((index) => rows[index]!), 1, batch);
      feed(signed, signedStatuses, removeOrder.map((index) => rows[index]!), -1, batch);
      const freshStatuses = new TextDictionary();
      const fresh = make(freshStatuses);
      feed(fresh, freshStatuses, rows.filter((_, index) => !gone.has(index)), 1, batch);
      expect(report(signed, signedStatuses)).toEqual(report(fresh, freshStatuses));
    }),
    { seed: SEED, numRuns: RUNS },
  );
}

describe('signed folds: rows taken out leave what a fresh fold of the rest gives', () => {
  it('ScriptTierFold, with the exact average duration (its scale drops with the rows that set it)', () => {
    holdsAfterRemoval(
      () => new ScriptTierFold(3, () => 5, true, true),
      (fold) => [0, 1, 2].map((tier) => fold.result().through(tier)),
    );
  });

  it('StartHourFold', () => {
    holdsAfterRemoval(
      () => new StartHourFold(3, CUTS[1]!, NOW),
      (fold) => [0, 1, 2].map((tier) => fold.result().through(tier)),
    );
  });

  it('TimelineFold (slots numbered apart: compared by tier, bucket, status name and class)', () => {
    const classes: ScriptClass[] = [
      { task: 'alpha', matches: [true, true] },
      { task: 'beta', matches: [true, false] },
    ];
    const tiers: SeriesTier[] = [
      { from: NOW - DAY, bucket: 'quarter_hour' },
      { from: NOW - 7 * DAY, bucket: 'week_month' },
      { from: null, bucket: 'month' },
    ];
    holdsAfterRemoval(
      (statuses) => new TimelineFold(tiers, Int32Array.from([0, 1, 0]), classes, () => statuses.names),
      (fold) => countsOf(fold.result()),
    );
  });

  it('UserRunsFold: rankings, activity and distinct users (users compared by id)', () => {
    const filtersOf = { first: Int32Array.from([0, 1, 3, 4, 4, 4]), list: Int32Array.from([0, 0, 1, 1]) };
    holdsAfterRemoval(
      () => new UserRunsFold(Int32Array.from([0, 0, 1]), 2, 2, filtersOf, 16, true),
      (fold) => usersReport(fold.result()),
    );
  });

  it('UserScriptLog: the favourites of every user', () => {
    holdsAfterRemoval(
      () => new FavouritesProbe(),
      (probe) => probe.report(),
    );
  });

  it('SignedDurationTable: count, exact sum and average per set of cells', () => {
    const duration = fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.constantFrom(0, 1, 6_099, 6_100, 61e6, 61e10, 61e14, 2 ** 53 - 1), fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), duration), { minLength: 1, maxLength: 200 }), fc.infiniteStream(fc.boolean()), (rows, coin) => {
        const taken = rows.map(() => coin.next().value as boolean);
        const add = (table: DurationTable, [cell, micros]: (typeof rows)[number], weight: 1 | -1) => {
          if (weight < 0) table.remove(cell, micros);
          else if (typeof micros === 'bigint') table.addExact(cell, micros);
          else table.add(cell, micros);
        };
        const signed = new SignedDurationTable(1);
        const fresh = new DurationTable(1);
        rows.forEach((row, index) => {
          add(signed, row, 1);
          if (!taken[index]) add(fresh, row, 1);
        });
        rows.forEach((row, index) => {
          if (taken[index]) add(signed, row, -1);
        });
        for (const cells of [[0], [1], [2], [3], [0, 1, 2, 3], [1, 3]]) expect(signed.total(cells)).toEqual(fresh.total(cells));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe('folds moved on', () => {
  it('StartHourFold: the window moved later, the rows that left it taken out, equals a fresh fold at the later window', () => {
    fc.assert(
      fc.property(fc.array(rowArbitrary, { maxLength: 200 }), fc.integer({ min: 0, max: 3 * DAY }), (rows, shift) => {
        const [from, to] = [CUTS[1]!, CUTS[1]! + shift];
        const statuses = new TextDictionary();
        const moved = new StartHourFold(3, from, NOW);
        feed(moved, statuses, rows, 1);
        // The rows' tiers stay those CUTS give: only the window's start and the dense range move.
        feed(moved, statuses, rows.filter((row) => row.start >= from && row.start < to), -1);
        moved.moveTo(to, NOW + shift);
        const fresh = new StartHourFold(3, to, NOW + shift);
        feed(fresh, statuses, rows, 1);
        expect([0, 1, 2].map((tier) => moved.result().through(tier))).toEqual([0, 1, 2].map((tier) => fresh.result().through(tier)));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

/** A timeline's non-zero counts as sorted rows. */
function countsOf(timeline: Timeline): string[] {
  const rows: string[] = [];
  timeline.slotTier.forEach((tier, slot) => {
    timeline.statuses.forEach((status, statusIndex) => {
      timeline.classes.forEach((scriptClass, classIndex) => {
        const count = timeline.counts[(slot * timeline.statusCapacity + statusIndex) * timeline.classes.length + classIndex]!;
        if (count !== 0) rows.push(JSON.stringify([tier, timeline.slotStart[slot], status, scriptClass.task, count]));
      });
    });
  });
  return rows.sort();
}

/** What a user fold reports, with users named by id. */
function usersReport(users: UserRuns) {
  const named = (ranked: ReturnType<UserRuns['top']>) => ranked.map(({ user, runs, finished }) => [users.idOf(user), runs, finished]);
  const newest = new Map<string, number>();
  for (let user = 0; user < users.numbered; user++) if (users.newestTier(user) < 2) newest.set(users.idOf(user), users.newestTier(user));
  return {
    distinct: users.distinctUsers,
    newest: [...newest].sort(),
    tops: [0, 1].flatMap((filter) => [0, 1].flatMap((tier) => [1, 3].map((limit) => named(users.top(filter, tier, limit))))),
  };
}

/** A user fold to number the users, feeding a UserScriptLog; reports every user's favourites by id. */
class FavouritesProbe implements Feeder {
  private readonly users = new UserRunsFold(Int32Array.from([0, 0, 0]), 1, 1, { first: new Int32Array(1), list: new Int32Array(0) }, 16, true);
  private readonly log = new UserScriptLog(8);

  resolve(batch: ExecutionBatch): void {
    this.users.resolve(batch);
  }

  private batches = 0;

  add(batch: ExecutionBatch): void {
    this.users.add(batch);
    this.log.add(batch);
    // Asked now and then, as a kept pass asks run after run: the users asked for are counted as pairs come and go, the others read from the log.
    if (++this.batches % 2 === 0) this.log.result().countsOf(Array.from({ length: this.users.result().numbered }, (_, user) => user).filter((user) => user % 2 === 0));
  }

  report(): Array<[string, string]> {
    const users = this.users.result();
    const numbers = Array.from({ length: users.numbered }, (_, user) => user);
    const counts = this.log.result().countsOf(numbers);
    return numbers
      .map((user): [string, string] => [users.idOf(user), JSON.stringify([...(counts.get(user) ?? [])].sort((a, b) => a.script - b.script))])
      .filter(([, favourites]) => favourites !== '[]')
      .sort();
  }
}
