/**
 * What a run reads besides the rows (schedule's change mode), kept with them between runs so
 * that a run after time alone passed sends no statement: the change probe is then all the
 * database sees. Each is reused only when something proves it is still what a read would give:
 *
 * - the catalog's column types, in a run after time alone passed (`quiet`; a run whose probe
 *   shows a change reads the catalog, and samples the counters), while the latest fingerprint's
 *   `source` (the database and the digest of the three tables' columns: relation, relkind,
 *   name, type, typmod) equals the one the catalog read computed in its own statement. The
 *   change counters are not kept (null in a kept catalog): they move with updates, which the
 *   probe does not see. Only the drift check reads them (and `standby`), and
 *   src/run/refresh-run.ts reads the catalog afresh whenever it judges with them;
 * - the script table, by the plan's task types, while the latest fingerprint's `scripts` (row
 *   count, sum of a hash of each id and slug) equals the digest its own read computed. The rows
 *   keep the order they were read in: a script's other columns updated can move it in the heap,
 *   which only the order of tasks with equal counts follows (an order the API does not fix);
 * - the top users' emails by id: kept from one sync that found nothing changed to the next;
 *   any other sync (the probe saw a change, a reload, a reconciliation) forgets them all, so a
 *   user deleted (their delete counter moves the fingerprint) leaves no email behind. An email
 *   edited moves nothing the probe watches: it shows at the next change run or reconciliation.
 *
 * The digests are computed in the same statement as what they cover, never taken from the probe
 * before the read: a change landing between the probe and the read, then undone, cannot make
 * the read pass for the state the probe saw.
 */
import type { Catalog } from '../pass/catalog.js';
import type { ChangeFingerprint } from '../pass/change-probe.js';
import type { KeptReads } from '../pass/load.js';
import type { ReadScripts, ScriptRows } from '../pass/scripts.js';

/** Script reads kept at most (one per list of task types; learned requests add lists). */
const KEPT_SCRIPT_READS = 8;

/** The counters of a kept catalog: not read by the run (null is what the drift check reads as unknown). */
const UNREAD_COUNTERS: Catalog['counters'] = { execution: null, user: null, script: null };

/** How a sync found the tables, as far as the reads are concerned. */
export type SyncOutcome = 'unchanged' | 'changed';

export class RunReads implements KeptReads {
  private catalogRead: Catalog | null = null;
  /** By the task types' list (JSON), least recently used first. */
  private readonly scriptReads = new Map<string, ReadScripts>();
  /** id → email (null: `"user"` holds no such id), since the last sync that found something changed. */
  private readonly emailsById = new Map<string, string | null>();
  /** How many reads were answered from what is kept, by kind: a test and a bench read it. */
  readonly reused = { catalog: 0, scripts: 0, emails: 0 };

  /**
   * `fingerprint`: the latest the change probe took (null: none yet); `quiet`: whether that
   * fingerprint is the one the rows were last read after, so that the run's sync will read nothing.
   */
  constructor(
    private readonly fingerprint: () => ChangeFingerprint | null,
    private readonly quiet: () => boolean,
  ) {}

  catalog(): Catalog | null {
    const latest = this.fingerprint();
    const read = this.catalogRead;
    if (!latest || !read || !this.quiet()) return null;
    if (read.source.database !== latest.source.database || read.source.columns !== latest.source.columns) return null;
    this.reused.catalog += 1;
    return read;
  }

  keepCatalog(catalog: Catalog): void {
    this.catalogRead = { ...catalog, counters: UNREAD_COUNTERS };
  }

  async scripts(taskTypes: readonly string[], read: () => Promise<ReadScripts>): Promise<ScriptRows> {
    const key = JSON.stringify(taskTypes);
    const latest = this.fingerprint()?.scripts;
    const kept = this.scriptReads.get(key);
    this.scriptReads.delete(key);
    if (kept && latest && kept.digest.count === latest.count && kept.digest.digest === latest.digest) {
      this.scriptReads.set(key, kept);
      this.reused.scripts += 1;
      return kept;
    }
    const fresh = await read();
    // Reads of another table (an older digest) cannot be reused again.
    for (const [other, rows] of this.scriptReads) {
      if (rows.digest.count !== fresh.digest.count || rows.digest.digest !== fresh.digest.digest) this.scriptReads.delete(other);
    }
    this.scriptReads.set(key, fresh);
    if (this.scriptReads.size > KEPT_SCRIPT_READS) this.scriptReads.delete(this.scriptReads.keys().next().value!);
    return fresh;
  }

  async emails(userIds: readonly string[], read: (userIds: readonly string[]) => Promise<ReadonlyMap<string, string>>): Promise<Map<string, string>> {
    const missing = userIds.filter((id) => !this.emailsById.has(id));
    if (missing.length > 0) {
      const found = await read(missing);
      for (const id of missing) this.emailsById.set(id, found.get(id) ?? null);
    }
    if (missing.length < userIds.length) this.reused.emails += 1;
    const emails = new Map<string, string>();
    for (const id of userIds) {
      const email = this.emailsById.get(id);
      if (email !== null && email !== undefined) emails.set(id, email);
    }
    return emails;
  }

  /** Hears how each sync went (and `changed` when the rows were dropped): only `unchanged` keeps the emails. */
  synced(outcome: SyncOutcome): void {
    if (outcome !== 'unchanged') this.emailsById.clear();
  }
}
