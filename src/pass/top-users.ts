/**
 * The one look-up after the pass: for the few users who rank in some top ten, their email
 * and their executions per script over all time (favourite tasks), in one statement on the
 * indexes of `"user".id` and `execution.user_id`.
 */
import { sql } from 'kysely';
import type { Db } from '../io/db.js';

export interface UserDetails {
  readonly email: string;
  /** Executions per script id (all time, scripts only). */
  readonly scripts: ReadonlyArray<{ readonly scriptId: string; readonly count: number }>;
}

/** Details of each given user id that `"user"` holds; ids it does not hold are absent. */
export async function loadUserDetails(db: Db, userIds: readonly string[]): Promise<Map<string, UserDetails>> {
  const details = new Map<string, UserDetails>();
  if (userIds.length === 0) return details;
  const { rows } = await sql<{ user_id: string; email: string; script_id: string | null; n: number | null }>`
    SELECT u.id::text AS user_id, u.email, f.script_id::text AS script_id, f.n
    FROM "user" u
    LEFT JOIN (SELECT user_id, script_id, count(*) AS n
               FROM execution
               WHERE user_id = ANY(${userIds}::uuid[]) AND script_id IS NOT NULL
               GROUP BY user_id, script_id) f ON f.user_id = u.id
    WHERE u.id = ANY(${userIds}::uuid[])`.execute(db);
  const scriptsOf = new Map<string, Array<{ scriptId: string; count: number }>>();
  for (const row of rows) {
    let scripts = scriptsOf.get(row.user_id);
    if (!scripts) {
      scripts = [];
      scriptsOf.set(row.user_id, scripts);
      details.set(row.user_id, { email: row.email, scripts });
    }
    if (row.script_id !== null) scripts.push({ scriptId: row.script_id, count: Number(row.n) });
  }
  return details;
}
