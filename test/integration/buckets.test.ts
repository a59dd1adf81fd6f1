/**
 * Time buckets are computed in Node on integer microseconds; PostgreSQL is the judge. For
 * thousands of timestamps (pre-2000, leap days, month and year ends, far future), each
 * bucket must be the one the API's own SQL gives: date_trunc for hours to months, and
 * to_timestamp(floor(epoch / 900) * 900) for quarter-hours, printed as isoformat() does.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketFunction, type BucketKind, isoMinute, minuteOf } from '../../src/lib/micros.js';
import { ADMIN_URL } from '../helpers/services.js';

const DAY = 86_400_000_000;
const YEAR = 365 * DAY;

function instants(): number[] {
  let state = 42;
  const random = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 2 ** 32;
  };
  const values: number[] = [];
  for (let index = 0; index < 4000; index++) values.push(Math.floor((random() - 0.3) * 120 * YEAR));
  // Around midnights, month and year ends, leap days, either side of 2000-01-01.
  for (const iso of ['2000-01-01', '2000-02-29', '2024-02-29', '2026-01-01', '2026-12-31', '1999-12-31', '1970-01-01', '2100-03-01']) {
    const micros = (Date.parse(`${iso}T00:00:00Z`) - Date.parse('2000-01-01T00:00:00Z')) * 1000;
    values.push(micros, micros - 1, micros + 1, micros + 899_999_999, micros + 900_000_000);
  }
  return values;
}

const KINDS: ReadonlyArray<[kind: BucketKind, sql: string]> = [
  ['quarter_hour', "to_timestamp(floor(extract(epoch FROM t) / 900) * 900) AT TIME ZONE 'UTC'"],
  ['hour', "date_trunc('hour', t)"],
  ['day', "date_trunc('day', t)"],
  ['week', "date_trunc('week', t)"],
  ['month', "date_trunc('month', t)"],
];

let client: pg.Client;
const values = instants();
let server: Array<Record<string, string>>;

beforeAll(async () => {
  client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  // The session zone must not matter for timestamp without time zone; a far one proves it.
  await client.query("SET TIME ZONE 'Pacific/Kiritimati'");
  const columns = KINDS.map(([kind, sql]) => `to_char(${sql}, 'YYYY-MM-DD"T"HH24:MI:SS') AS ${kind}`).join(', ');
  const { rows } = await client.query(
    `SELECT ${columns} FROM (SELECT timestamp '2000-01-01' + (x / ${DAY})::int8 * interval '1 day' + (x % ${DAY}) * interval '1 microsecond' AS t
       FROM unnest($1::int8[]) WITH ORDINALITY AS u(x, n) ORDER BY n) s`,
    [values.map(String)],
  );
  server = rows;
});

afterAll(async () => {
  await client?.end();
});

describe('buckets against PostgreSQL', () => {
  it.each(KINDS.map(([kind]) => kind))('%s matches for every instant', (kind) => {
    const bucketOf = bucketFunction(kind);
    const wrong = values
      .map((micros, index) => ({ micros, ours: isoMinute(bucketOf(minuteOf(micros))), server: server[index]![kind] }))
      .filter((row) => row.ours !== row.server);
    expect(server).toHaveLength(values.length);
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('week_month pieces are the later of the week start and the month start', () => {
    const bucketOf = bucketFunction('week_month');
    for (const [index, micros] of values.entries()) {
      const { week, month } = server[index]!;
      expect(isoMinute(bucketOf(minuteOf(micros)))).toBe(week! > month! ? week : month);
    }
  });
});
