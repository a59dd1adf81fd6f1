/**
 * One scan of `execution` grouped by user: the top users of every period, their
 * favourite tasks and finished counts (one more grouped look-up for just those users,
 * no N+1), and the users family's activity counts.
 *
 * The per-user scan is the run's largest hash table (one entry per user), so it keeps
 * only what every user needs: the last start and the runs per period. Finished counts,
 * favourite scripts and emails are looked up for the top users alone.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../io/db.js';
import type { RunPlan } from '../plan.js';
import type { Period } from '../lib/time.js';
import { alias, sinceCutoff } from './filters.js';

export const TOP_USERS_LIMIT = 10;
export const FAVORITE_TASKS_LIMIT = 3;

export interface TopUserRow {
  readonly userId: string;
  readonly email: string;
  readonly runs: number;
  readonly finished: number;
  /** Script ids, most executed first. */
  readonly favoriteScriptIds: string[];
}

export interface ActivityCounts {
  readonly activeUsers: number;
  readonly activeCountries: number;
}

export interface UserScanResult {
  readonly topUsers: Map<Period, TopUserRow[]>;
  readonly activity: Map<Period, ActivityCounts>;
  readonly neverExecuted: number;
}

/**
 * Runs count executions joined to their script; `script_id IS NOT NULL` is that join,
 * as the API's foreign key execution.script_id → script.id guarantees.
 */
function perUserCte(plan: RunPlan): RawBuilder<unknown> {
  const runs = plan.topUsers.map((period) =>
    sql`count(*) FILTER (WHERE script_id IS NOT NULL AND ${sinceCutoff(sql.ref('start_date'), plan.cutoffs[period])})`.as(
      alias('runs', period),
    ),
  );
  return sql`per_user AS MATERIALIZED (
    SELECT user_id, max(start_date) AS last_start${sql.join([sql``, ...runs])}
    FROM execution
    WHERE user_id IS NOT NULL
    GROUP BY user_id)`;
}

function topUsersCtes(plan: RunPlan): RawBuilder<unknown>[] {
  if (plan.topUsers.length === 0) return [];
  const perPeriod = plan.topUsers.map((period) => {
    const runs = sql.ref(alias('runs', period));
    return sql`(SELECT ${sql.lit(period)} AS period, user_id, ${runs} AS runs
      FROM per_user WHERE ${runs} > 0 ORDER BY ${runs} DESC, user_id LIMIT ${sql.lit(TOP_USERS_LIMIT)})`;
  });
  const finished = plan.topUsers.map((period) =>
    sql`count(*) FILTER (WHERE e.status = 'FINISHED' AND ${sinceCutoff(sql.ref('e.start_date'), plan.cutoffs[period])})`.as(
      alias('finished', period),
    ),
  );
  return [
    sql`top AS (${sql.join(perPeriod, sql` UNION ALL `)})`,
    // Every execution of the top users with a script, by script: favourites (all time) and finished counts.
    sql`top_scripts AS (
      SELECT e.user_id, e.script_id, count(*) AS n${sql.join([sql``, ...finished])}
      FROM execution e
      WHERE e.user_id IN (SELECT user_id FROM top) AND e.script_id IS NOT NULL
      GROUP BY e.user_id, e.script_id)`,
    sql`favorite AS (
      SELECT user_id, script_id, row_number() OVER (PARTITION BY user_id ORDER BY n DESC, script_id) AS rank
      FROM top_scripts)`,
  ];
}

function topUsersColumn(plan: RunPlan): RawBuilder<unknown> {
  if (plan.topUsers.length === 0) return sql`NULL::json AS top`;
  const finishedOf = sql`CASE t.period ${sql.join(
    plan.topUsers.map(
      (period) =>
        sql`WHEN ${sql.lit(period)} THEN (SELECT sum(${sql.ref(alias('finished', period))}) FROM top_scripts s WHERE s.user_id = t.user_id)`,
    ),
    sql` `,
  )} END`;
  return sql`(SELECT json_agg(json_build_object(
      'period', t.period, 'user_id', t.user_id::text, 'email', u.email, 'runs', t.runs,
      'finished', coalesce(${finishedOf}, 0),
      'favorites', (SELECT coalesce(json_agg(f.script_id::text ORDER BY f.rank), '[]'::json)
                    FROM favorite f WHERE f.user_id = t.user_id AND f.rank <= ${sql.lit(FAVORITE_TASKS_LIMIT)})))
    FROM top t JOIN "user" u ON u.id = t.user_id) AS top`;
}

function activityColumns(plan: RunPlan): RawBuilder<unknown>[] {
  if (plan.activity.length === 0) return [sql`NULL::json AS activity`, sql`NULL::bigint AS never_executed`];
  const counted = (name: string) =>
    plan.activity.map((period) =>
      sql`count(*) FILTER (WHERE ${sinceCutoff(sql.ref('last_start'), plan.cutoffs[period])})`.as(alias(name, period)),
    );
  const fields = plan.activity.flatMap((period) =>
    ['active', 'countries'].flatMap((name) => [sql.lit(alias(name, period)), sql.ref(alias(name, period))]),
  );
  // A country is active in a period when its most recently active user is: one row per country.
  return [
    sql`(SELECT json_build_object(${sql.join(fields)})
      FROM (SELECT ${sql.join(counted('active'))} FROM per_user) users,
           (SELECT ${sql.join(counted('countries'))}
            FROM (SELECT max(p.last_start) AS last_start
                  FROM per_user p JOIN "user" u ON u.id = p.user_id
                  WHERE u.country IS NOT NULL AND u.country <> ''
                  GROUP BY u.country) by_country) countries) AS activity`,
    sql`(SELECT count(*) FROM "user") - (SELECT count(*) FROM per_user) AS never_executed`,
  ];
}

interface RawTopUser {
  period: Period;
  user_id: string;
  email: string;
  runs: number;
  finished: number;
  favorites: string[];
}

export async function loadUserScan(db: Db, plan: RunPlan): Promise<UserScanResult> {
  const ctes = [perUserCte(plan), ...topUsersCtes(plan)];
  const query = sql<{ top: string | null; activity: string | null; never_executed: number | null }>`
    WITH ${sql.join(ctes)}
    SELECT ${topUsersColumn(plan)}, ${sql.join(activityColumns(plan))}`;
  const row = (await query.execute(db)).rows[0];
  const top = JSON.parse(row?.top ?? '[]') as RawTopUser[];
  const activity = JSON.parse(row?.activity ?? '{}') as Record<string, number>;

  const topUsers = new Map<Period, TopUserRow[]>(plan.topUsers.map((period) => [period, []]));
  for (const user of top) {
    topUsers.get(user.period)?.push({
      userId: user.user_id,
      email: user.email,
      runs: user.runs,
      finished: Number(user.finished),
      favoriteScriptIds: user.favorites,
    });
  }
  // json_agg keeps no order across the union: restore each period's ranking (ties by user id).
  for (const users of topUsers.values()) {
    users.sort((a, b) => b.runs - a.runs || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  }

  return {
    topUsers,
    activity: new Map(
      plan.activity.map((period) => [
        period,
        {
          activeUsers: activity[alias('active', period)] ?? 0,
          activeCountries: activity[alias('countries', period)] ?? 0,
        },
      ]),
    ),
    neverExecuted: Math.max(0, Number(row?.never_executed ?? 0)),
  };
}
