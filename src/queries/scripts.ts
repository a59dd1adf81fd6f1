import type { Db } from '../io/db.js';

/** Every script's slug by id: the small table the execution aggregates are mapped through. */
export async function loadScripts(db: Db): Promise<Map<string, string>> {
  const rows = await db.selectFrom('script').select(['id', 'slug']).execute();
  return new Map(rows.map((row) => [row.id, row.slug]));
}
