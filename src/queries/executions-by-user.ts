/**
 * One scan of `execution` grouped by user: the top users of every period, their
 * favourite tasks (one more grouped look-up for just those users, no N+1), and the
 * users family's activity counts.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db.js';
import type { RunPlan } from '../plan.js';
import type { Period } from '../time.js';
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

function perUserCte(plan: RunPlan): RawBuilder<unknown> {
  const started = sql.ref('e.start_date');
  const counts = plan.topUsers.flatMap((period) => {
    const inPeriod = sql`s.id IS NOT NULL AND ${sinceCutoff(started, plan.cutoffs[period])}`;
    return [
      sql`count(*) FILTER (WHERE ${inPeriod})`.as(alias('runs', period)),
      sql`count(*) FILTER (WHERE ${inPeriod} AND e.status = 'FINISHED')`.as(alias('finished', period)),
    ];
  });
  return sql`per_user AS MATERIALIZED (
    SELECT e.user_id, max(e.start_date) AS last_start${sql.join([sql``, ...counts])}
    FROM execution e LEFT JOIN script s ON s.id = e.script_id
    WHERE e.user_id IS NOT NULL
    GROUP BY e.user_id)`;
}

function topUsersCtes(plan: RunPlan): RawBuilder<unknown>[] {
  if (plan.topUsers.length === 0) return [];
  const perPeriod = plan.topUsers.map((period) => {
    const runs = sql.ref(alias('runs', period));
    return sql`(SELECT ${sql.lit(period)} AS period, p.user_id, u.email, ${runs} AS runs,
        ${sql.ref(alias('finished', period))} AS finished
      FROM per_user p JOIN "user" u ON u.id = p.user_id
      WHERE ${runs} > 0 ORDER BY ${runs} DESC LIMIT ${sql.lit(TOP_USERS_LIMIT)})`;
  });
  return [
    sql`top AS (${sql.join(perPeriod, sql` UNION ALL `)})`,
    sql`favorite AS (
      SELECT user_id, script_id, row_number() OVER (PARTITION BY user_id ORDER BY n DESC) AS rank
      FROM (SELECT e.user_id, e.script_id, count(*) AS n
            FROM execution e JOIN script s ON s.id = e.script_id
            WHERE e.user_id IN (SELECT user_id FROM top)
            GROUP BY e.user_id, e.script_id) counted)`,
  ];
}

function topUsersColumn(plan: RunPlan): RawBuilder<unknown> {
  if (plan.topUsers.length === 0) return sql`NULL::json AS top`;
  return sql`(SELECT json_agg(json_build_object(
      'period', t.period, 'user_id', t.user_id::text, 'email', t.email, 'runs', t.runs, 'finished', t.finished,
      'favorites', (SELECT coalesce(json_agg(f.script_id::text ORDER BY f.rank), '[]'::json)
                    FROM favorite f WHERE f.user_id = t.user_id AND f.rank <= ${sql.lit(FAVORITE_TASKS_LIMIT)})))
    FROM top t) AS top`;
}

function activityColumns(plan: RunPlan): RawBuilder<unknown>[] {
  if (plan.activity.length === 0) return [sql`NULL::json AS activity`, sql`NULL::bigint AS never_executed`];
  const lastStart = sql.ref('p.last_start');
  const fields = plan.activity.flatMap((period) => {
    const active = sinceCutoff(lastStart, plan.cutoffs[period]);
    return [
      sql.lit(alias('active', period)),
      sql`count(*) FILTER (WHERE ${active})`,
      sql.lit(alias('countries', period)),
      sql`count(DISTINCT u.country) FILTER (WHERE ${active} AND u.country IS NOT NULL AND u.country <> '')`,
    ];
  });
  return [
    sql`(SELECT json_build_object(${sql.join(fields)})
      FROM per_user p LEFT JOIN "user" u ON u.id = p.user_id) AS activity`,
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
      finished: user.finished,
      favoriteScriptIds: user.favorites,
    });
  }
  // json_agg keeps no order across the union: restore each period's ranking.
  for (const users of topUsers.values()) users.sort((a, b) => b.runs - a.runs);

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
