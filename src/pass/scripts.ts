/**
 * The script table, small and read first: slugs by id, and which `task_type` filters
 * match each slug. PostgreSQL evaluates the API's own `slug LIKE '%<task_type>%'`, so `_`,
 * `%` and `\` mean exactly what they mean to the API.
 */
import { sql } from 'kysely';
import type { Db } from '../io/db.js';
import { taskName } from '../lib/slug.js';
import { type ChangeFingerprint, SCRIPT_ROW_HASH } from './change-probe.js';
import { type CopyPool, queryRows } from './copy.js';
import { UuidDictionary } from './dictionary.js';
import type { ScriptClass } from './folds/timeline.js';

export interface ScriptRows {
  /** Rows of `script`, in the order read. */
  readonly ids: readonly string[];
  readonly slugs: readonly string[];
  /** `matches[f][i]`: does filter f + 1 (plan.taskTypes[f]) match script i. */
  readonly matches: ReadonlyArray<readonly boolean[]>;
}

/**
 * The rows as read, with the change probe's digest of the table (its row count and the sum of a
 * hash of each row's id and slug) computed in the same statement: equal to a later
 * fingerprint's `scripts`, the table still holds exactly these rows (src/state/run-reads.ts).
 */
export interface ReadScripts extends ScriptRows {
  readonly digest: ChangeFingerprint['scripts'];
}

/** The API's LIKE pattern for a task_type filter. */
export function taskTypePattern(taskType: string): string {
  return `%${taskType}%`;
}

export async function loadScripts(db: Db, pool: CopyPool, taskTypes: readonly string[]): Promise<ReadScripts> {
  const query = db
    .selectFrom('script')
    .select(['id', 'slug'])
    .select(taskTypes.map((taskType, index) => sql<boolean | null>`slug LIKE ${taskTypePattern(taskType)}`.as(`m${index}`)))
    .select([sql<string>`(count(*) OVER ())::text`.as('digest_count'), sql<string>`(sum(${sql.raw(SCRIPT_ROW_HASH)}) OVER ())::text`.as('digest_sum')])
    .compile();
  type Row = Record<string, unknown> & { id: string; slug: string; digest_count: string; digest_sum: string };
  const rows = await queryRows<Row>(pool, query.sql, query.parameters);
  return {
    ids: rows.map((row) => row.id),
    slugs: rows.map((row) => row.slug),
    matches: taskTypes.map((_, index) => rows.map((row) => row[`m${index}`] === true)),
    // No row: the probe's coalesce gives 0 and 0.
    digest: { count: rows[0]?.digest_count ?? '0', digest: rows[0]?.digest_sum ?? '0' },
  };
}

/** The pass's view of the scripts: a dictionary seeded with the script rows, classes and filter needs. */
export class ScriptIndex {
  readonly dictionary = new UuidDictionary();
  readonly classes: ScriptClass[] = [];
  /** The class of each script row, by index. */
  readonly classByScript: Int32Array;

  constructor(readonly rows: ScriptRows) {
    const byKey = new Map<string, number>();
    this.classByScript = new Int32Array(rows.ids.length);
    rows.ids.forEach((id, script) => {
      this.dictionary.indexOfText(id, true);
      const matches = [true, ...rows.matches.map((column) => column[script]!)];
      const task = taskName(rows.slugs[script]);
      const key = JSON.stringify([task, matches]);
      let scriptClass = byKey.get(key);
      if (scriptClass === undefined) {
        scriptClass = this.classes.length;
        this.classes.push({ task, matches });
        byKey.set(key, scriptClass);
      }
      this.classByScript[script] = scriptClass;
    });
  }

  /** The slug of a script index; undefined for ids the pass met that `script` does not hold. */
  slugOf(script: number): string | undefined {
    return this.rows.slugs[script];
  }

  /** The class of a script index, or -1 when the script is not in `script` (the API's join drops it). */
  classOf(script: number): number {
    return script < this.classByScript.length ? this.classByScript[script]! : -1;
  }

  /** Whether filter `filter` (0: none) matches script index `script`. */
  matches(script: number, filter: number): boolean {
    const scriptClass = this.classOf(script);
    return scriptClass >= 0 && this.classes[scriptClass]!.matches[filter] === true;
  }
}
