/**
 * The one look-up after the pass: the emails of the few users who rank in some top list, by
 * primary key (their favourite tasks come from the pass itself). A ranked id that `"user"`
 * does not hold has no email: the API's join leaves such a user out.
 */
import { sql } from 'kysely';
import type { Db } from '../io/db.js';
import { type CopyPool, queryRows } from './copy.js';

/** The email of each given user id that `"user"` holds. */
export async function loadEmails(db: Db, pool: CopyPool, userIds: readonly string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map();
  const query = sql`SELECT id::text AS id, email FROM "user" WHERE id = ANY(${userIds}::uuid[])`.compile(db);
  const rows = await queryRows<{ id: string; email: string }>(pool, query.sql, query.parameters);
  return new Map(rows.map((row) => [row.id, row.email]));
}
