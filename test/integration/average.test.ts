/**
 * The average duration is PostgreSQL's `avg(extract(epoch FROM end_date - start_date) / 60)`,
 * a numeric whose text the API rounds. DurationTable folds it row by row in Node; here
 * PostgreSQL itself is the judge: thousands of random and adversarial duration sets, each
 * averaged by the server over real timestamp columns and compared as text.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DurationTable, numericDivide, pow10 } from '../../src/lib/pg-numeric.js';
import { ADMIN_URL } from '../helpers/services.js';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SECOND = 1_000_000;
const MINUTE = 60 * SECOND;
const DAY = 86_400 * SECOND;
const YEAR = 365 * DAY;

type Profile = (random: () => number) => bigint[];

const int = (random: () => number, max: number) => Math.floor(random() * max);
const sized = (random: () => number, max: number) => 1 + int(random, max);
const values = (random: () => number, count: number, draw: () => number) => Array.from({ length: count }, () => BigInt(draw()));

/** Duration sets, in microseconds; each profile aims at one rule of PostgreSQL's arithmetic. */
const PROFILES: Record<string, Profile> = {
  subSecond: (r) => values(r, sized(r, 40), () => int(r, SECOND)),
  microseconds: (r) => values(r, sized(r, 12), () => int(r, 7000)),
  secondsToHours: (r) => values(r, sized(r, 60), () => int(r, 5 * 3600 * SECOND)),
  daysLong: (r) => values(r, sized(r, 30), () => int(r, 40 * DAY)),
  yearsLong: (r) => values(r, sized(r, 10), () => int(r, 200 * YEAR)),
  // Beyond 2^53 µs (about 285 years): exact only through the bigint path.
  centuriesLong: (r) => Array.from({ length: sized(r, 5) }, () => BigInt(int(r, 2 ** 30)) * 2n ** 28n + BigInt(int(r, 2 ** 28))),
  negativeMixed: (r) => values(r, sized(r, 40), () => (r() < 0.5 ? -1 : 1) * int(r, 3 * DAY)),
  zeros: (r) => values(r, sized(r, 8), () => 0),
  zerosAndTiny: (r) => values(r, sized(r, 20), () => (r() < 0.7 ? 0 : int(r, 100))),
  // Every scale boundary of the per-row division, ±1 µs.
  scaleEdges: (r) =>
    values(r, sized(r, 10), () => {
      const edges = [1, 6_100, 61e6, 61e10, 61e14, 1e6, 1e10];
      return (r() < 0.3 ? -1 : 1) * (edges[int(r, edges.length)]! + int(r, 3) - 1);
    }),
  // Averages exactly at a rounding tie of the API's one decimal (0.25 min = 15 s, 1.35 min = 81 s, …).
  pythonTies: (r) => {
    // (10k + 5) × 3 s is k/2 + 0.25 minutes: always a tie at one decimal. Deviations sum to zero.
    const tie = BigInt((10 * int(r, 400) + 5) * 3 * SECOND);
    const deviations = values(r, sized(r, 6), () => int(r, 2 * MINUTE) - MINUTE);
    deviations.push(-deviations.reduce((a, b) => a + b, 0n));
    return deviations.map((deviation) => tie + deviation);
  },
  // Even counts over long sums with many digits: ties at PostgreSQL's own rounding digit.
  divisionTies: (r) => {
    const n = 2 ** sized(r, 4);
    return values(r, n, () => (r() < 0.5 ? int(r, 1000) : int(r, 90 * DAY)));
  },
  singleRows: (r) => values(r, 1, () => int(r, 3 * DAY) - DAY),
};

interface Case {
  readonly id: number;
  readonly profile: string;
  readonly durations: bigint[];
}

function makeCases(perProfile: number): Case[] {
  const random = prng(20260615);
  const cases: Case[] = [];
  for (const [profile, draw] of Object.entries(PROFILES)) {
    for (let index = 0; index < perProfile; index++) cases.push({ id: cases.length, profile, durations: draw(random) });
  }
  return cases;
}

/** Starts spread over 1970-2069 (µs since 2000), so the durations come from real timestamp subtraction. */
function startsFor(cases: readonly Case[]): Map<number, bigint[]> {
  const random = prng(7);
  return new Map(cases.map((c) => [c.id, c.durations.map(() => BigInt(int(random, 100 * YEAR)) - 30n * BigInt(YEAR))]));
}

const EPOCH = "timestamp '2000-01-01'";
/** A timestamp of `x` µs since 2000, built exactly (whole days plus microseconds, both exact in float8). */
const timestampOf = (x: string) =>
  `(${EPOCH} + (${x} / ${DAY})::int8 * interval '1 day' + (${x} % ${DAY}) * interval '1 microsecond')`;

let client: pg.Client;
const cases = makeCases(400);
const starts = startsFor(cases);
let serverAverages: Map<number, string>;

beforeAll(async () => {
  client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  const ids: number[] = [];
  const startMicros: string[] = [];
  const endMicros: string[] = [];
  for (const c of cases) {
    c.durations.forEach((duration, index) => {
      const start = starts.get(c.id)![index]!;
      ids.push(c.id);
      startMicros.push(String(start));
      endMicros.push(String(start + duration));
    });
  }
  const { rows } = await client.query<{ id: number; avg: string }>(
    `SELECT id, avg(extract(epoch FROM end_date - start_date) / 60)::text AS avg
     FROM (SELECT id, ${timestampOf('s')} AS start_date, ${timestampOf('e')} AS end_date
           FROM unnest($1::int[], $2::int8[], $3::int8[]) AS t(id, s, e)) executions
     GROUP BY id`,
    [ids, startMicros, endMicros],
  );
  serverAverages = new Map(rows.map((row) => [row.id, row.avg]));
});

afterAll(async () => {
  await client?.end();
});

/** Folds durations into `cell` of `table`, as the pass does (bigint only beyond 2^53 µs). */
function fold(durations: readonly bigint[], table = new DurationTable(), cell = 0): DurationTable {
  for (const duration of durations) {
    if (duration <= BigInt(Number.MAX_SAFE_INTEGER) && duration >= -BigInt(Number.MAX_SAFE_INTEGER)) table.add(cell, Number(duration));
    else table.addExact(cell, duration);
  }
  return table;
}

describe('DurationTable against PostgreSQL', () => {
  it(`reproduces avg() as text for all ${cases.length} duration sets`, () => {
    expect(serverAverages.size).toBe(cases.length);
    const mismatches = cases
      .map((c) => ({ id: c.id, profile: c.profile, ours: fold(c.durations).total([0]).averageText, server: serverAverages.get(c.id) }))
      .filter((c) => c.ours !== c.server);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('covers ties at PostgreSQL’s own rounding digit (the test could catch half-even vs half-up)', () => {
    let ties = 0;
    for (const c of cases) {
      const { sum } = fold(c.durations).total([0]);
      const count = { units: BigInt(c.durations.length), scale: 0 };
      const { scale } = numericDivide(sum, count);
      const numerator = sum.units * pow10(scale);
      const denominator = count.units * pow10(sum.scale);
      if ((2n * (numerator % denominator)) % denominator === 0n && numerator % denominator !== 0n) ties++;
    }
    expect(ties).toBeGreaterThan(20);
  });

  it('the per-row fast path equals the general division for every profile', () => {
    for (const c of cases) {
      const exact = new DurationTable();
      for (const duration of c.durations) exact.addExact(0, duration);
      expect(fold(c.durations).total([0]), `case ${c.id} (${c.profile})`).toEqual(exact.total([0]));
    }
  });

  it('the total of several cells equals folding all rows into one', () => {
    for (const c of cases.slice(0, 300)) {
      const half = Math.floor(c.durations.length / 2);
      const split = fold(c.durations.slice(half), fold(c.durations.slice(0, half), new DurationTable(), 3), 7);
      expect(split.total([3, 7, 11])).toEqual(fold(c.durations).total([0]));
    }
  });
});
