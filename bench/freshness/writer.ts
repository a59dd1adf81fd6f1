/**
 * The freshness harness's writer: commits the changes the API makes (a run submitted, a run
 * finished, a user registered) and the noise it makes (progress of running runs), one
 * statement each, autocommitted, on one connection to a contender's database.
 */
import pg from 'pg';
import { type ChangeKind, PROBE_COUNTRY, PROBE_SLUG } from './watch.js';

/** The server's clock, as the API stores it: UTC without a zone. */
const NOW_UTC = "clock_timestamp() AT TIME ZONE 'UTC'";

export class Writer {
  private readonly users: string[] = [];
  private readonly toFinish: string[] = [];
  private readonly running: string[] = [];
  private scriptId = '';
  private registered = 0;
  private noise = 0;

  private constructor(
    private readonly client: pg.Client,
    /** The backend serving the writer: its CPU is the harness's, not the contender's. */
    readonly backendPid: number,
  ) {}

  static async connect(databaseUrl: string): Promise<Writer> {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'freshness-writer' });
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return new Writer(client, rows[0]!.pid);
  }

  /**
   * Before the contender starts (so its first run counts them in the baseline): the probe
   * script, `finishable` RUNNING runs of it for `run_finished` to finish, and the seeded users
   * new runs belong to and the seeded running runs the noise writes to.
   */
  async prepare(finishable: number): Promise<void> {
    const script = await this.client.query<{ id: string }>(
      `INSERT INTO script (id, name, slug, status, public, created_at, updated_at)
       VALUES (gen_random_uuid(), 'Freshness probe', $1, 'SUCCESS', true, ${NOW_UTC}, ${NOW_UTC}) RETURNING id`,
      [PROBE_SLUG],
    );
    this.scriptId = script.rows[0]!.id;
    const users = await this.client.query<{ id: string }>('SELECT id FROM "user" ORDER BY id LIMIT 1000');
    this.users.push(...users.rows.map((row) => row.id));
    const running = await this.client.query<{ id: string }>("SELECT id FROM execution WHERE status = 'RUNNING' ORDER BY id LIMIT 1000");
    this.running.push(...running.rows.map((row) => row.id));
    const created = await this.client.query<{ id: string }>(
      `INSERT INTO execution (id, start_date, status, progress, script_id, user_id)
       SELECT gen_random_uuid(), ${NOW_UTC}, 'RUNNING', 0, $1, $2 FROM generate_series(1, $3) RETURNING id`,
      [this.scriptId, this.users[0] ?? null, finishable],
    );
    this.toFinish.push(...created.rows.map((row) => row.id));
  }

  /** Commits one change; resolves with the instant COMMIT returned (ms since the epoch). */
  async commit(kind: ChangeKind): Promise<number> {
    if (kind === 'new_run') {
      const user = this.users.length ? this.users[Math.floor(Math.random() * this.users.length)]! : null;
      await this.client.query(
        `INSERT INTO execution (id, start_date, status, progress, script_id, user_id) VALUES (gen_random_uuid(), ${NOW_UTC}, 'PENDING', 0, $1, $2)`,
        [this.scriptId, user],
      );
    } else if (kind === 'run_finished') {
      const id = this.toFinish.shift();
      if (!id) throw new Error('the writer ran out of running runs to finish (prepare more)');
      await this.client.query(`UPDATE execution SET status = 'FINISHED', end_date = ${NOW_UTC}, progress = 100 WHERE id = $1`, [id]);
    } else {
      this.registered += 1;
      await this.client.query(
        `INSERT INTO "user" (id, email, name, country, password, created_at, updated_at, role)
         VALUES (gen_random_uuid(), $1, 'Freshness user', $2, 'x', ${NOW_UTC}, ${NOW_UTC}, 'USER')`,
        [`freshness-${process.pid}-${Date.now()}-${this.registered}@example.invalid`, PROBE_COUNTRY],
      );
    }
    return Date.now();
  }

  /** A progress write to a running run: what the API writes constantly and no payload shows. */
  async progress(): Promise<void> {
    const id = this.running[this.noise++ % Math.max(1, this.running.length)];
    if (id) await this.client.query('UPDATE execution SET progress = (coalesce(progress, 0) + 1) % 100 WHERE id = $1', [id]);
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
