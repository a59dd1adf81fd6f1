/**
 * Queries on the `"user"` table: totals per period, the geographic distribution and
 * registration buckets. The table is small next to `execution`; each is one scan.
 */
import { sql, type AliasedRawBuilder, type RawBuilder } from 'kysely';
import type { Granularity } from '../requests/batches.js';
import type { Db } from '../io/db.js';
import type { RunPlan, SeriesNeed } from '../plan.js';
import { byLookBack, type Period } from '../lib/time.js';
import { alias, bucketOf, isoDay, isoSeconds, sinceCutoff } from './filters.js';

const CREATED = sql.ref('created_at');

function countsSince(periods: readonly Period[], plan: RunPlan): AliasedRawBuilder<unknown, string>[] {
  return periods.map((period) =>
    sql`count(*) FILTER (WHERE ${sinceCutoff(CREATED, plan.cutoffs[period])})`.as(alias('users', period)),
  );
}

function countsByPeriod(row: Record<string, unknown>, periods: readonly Period[]): Map<Period, number> {
  return new Map(periods.map((period) => [period, Number(row[alias('users', period)] ?? 0)]));
}

export interface UserTotals {
  /** Users created in each period. */
  readonly usersByPeriod: Map<Period, number>;
  readonly allUsers: number;
  readonly scripts: number;
}

/** Users per period, all users, and all scripts, in one statement. */
export async function loadUserTotals(db: Db, plan: RunPlan, periods: readonly Period[]): Promise<UserTotals> {
  const withAll = [...new Set<Period>([...periods, 'all'])];
  const row = await db
    .selectFrom('user')
    .select(countsSince(withAll, plan))
    .select((eb) => eb.selectFrom('script').select(eb.fn.countAll().as('n')).as('scripts'))
    .executeTakeFirstOrThrow();
  const usersByPeriod = countsByPeriod(row as Record<string, unknown>, withAll);
  return { usersByPeriod, allUsers: usersByPeriod.get('all') ?? 0, scripts: Number(row.scripts ?? 0) };
}

export interface CountryRow {
  readonly country: string;
  readonly byPeriod: Map<Period, number>;
}

/** Users per country (NULL and '' left out, as the API does) for each period. */
export async function loadCountries(db: Db, plan: RunPlan): Promise<CountryRow[]> {
  const rows = await db
    .selectFrom('user')
    .select('country')
    .select(countsSince(plan.geographic, plan))
    .where('country', 'is not', null)
    .where('country', '<>', '')
    .groupBy('country')
    .execute();
  return rows.map((row) => ({
    country: row.country as string,
    byPeriod: countsByPeriod(row as Record<string, unknown>, plan.geographic),
  }));
}

/** Registration buckets are text: days as `YYYY-MM-DD`, hours and quarter-hours with the time. */
function formatBucket(groupBy: Granularity, bucket: RawBuilder<unknown>): RawBuilder<string | null> {
  return groupBy === 'quarter_hour' || groupBy === 'hour' ? isoSeconds(bucket) : isoDay(bucket);
}

export interface RegistrationRow {
  readonly groupBy: Granularity;
  readonly bucket: string | null;
  /** Only the periods that want this granularity. */
  readonly byPeriod: Map<Period, number>;
}

/**
 * New users per bucket for every (period, granularity) requested, in one statement: one
 * branch per granularity, reading only the users of the longest period that wants it (the
 * created_at index finds them) and counting only for the periods that want it. Groups are
 * keyed by timestamp and formatted once each.
 */
export async function loadRegistrations(db: Db, plan: RunPlan): Promise<RegistrationRow[]> {
  const granularities = [...new Set(plan.registration.map((need: SeriesNeed) => need.groupBy))];
  const periodsOf = new Map(
    granularities.map((groupBy) => [
      groupBy,
      [...new Set(plan.registration.filter((need) => need.groupBy === groupBy).map((need) => need.period))].sort(byLookBack),
    ]),
  );
  const allPeriods = [...new Set(plan.registration.map((need) => need.period))].sort(byLookBack);
  // UNION ALL wants the same columns in every branch: a period a granularity is not wanted for is NULL.
  const branches = granularities.map((groupBy) => {
    const periods = periodsOf.get(groupBy)!;
    const oldest = plan.cutoffs[periods.at(-1)!];
    const columns = allPeriods.map((period) =>
      periods.includes(period) ? sql.ref(alias('users', period)) : sql`NULL::int8`.as(alias('users', period)),
    );
    return sql`SELECT ${sql.lit(groupBy)} AS group_by, ${formatBucket(groupBy, sql.ref('bucket'))} AS bucket, ${sql.join(columns)}
      FROM (SELECT ${bucketOf(CREATED, groupBy)} AS bucket, ${sql.join(countsSince(periods, plan))}
            FROM "user" WHERE ${sinceCutoff(CREATED, oldest)} GROUP BY 1) ${sql.ref(`by_${groupBy}`)}`;
  });
  if (branches.length === 0) return [];
  const { rows } = await sql<Record<string, unknown>>`${sql.join(branches, sql` UNION ALL `)}`.execute(db);
  return rows.map((row) => {
    const groupBy = row.group_by as Granularity;
    return { groupBy, bucket: (row.bucket as string | null) ?? null, byPeriod: countsByPeriod(row, periodsOf.get(groupBy)!) };
  });
}
