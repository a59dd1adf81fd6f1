/**
 * The least-privilege PostgreSQL role of docs/operations.md#least-privilege, made on a test's
 * own database: CONNECT on it, USAGE on schema public, SELECT on "user", script and
 * execution, and nothing else (PUBLIC's default CONNECT, TEMP and schema rights are taken
 * away). A fourth table, `api_secret`, is there for tests to check that the role cannot read it.
 */
import { randomBytes } from 'node:crypto';
import { adminQuery, type TestDatabase } from './services.js';

export interface ReadOnlyRole {
  readonly name: string;
  /** The database's URL, logged in as the role (no password: the test server trusts local logins). */
  readonly url: string;
  /** Drops the role (what it owns first); call before dropping the database. */
  drop(): Promise<void>;
}

export async function readOnlyRole(database: TestDatabase): Promise<ReadOnlyRole> {
  const name = `sr_test_reader_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE ROLE "${name}" LOGIN`);
  // PUBLIC holds CONNECT and TEMP on every database and USAGE on schema public by default: take them away,
  // so the role has exactly what is granted here.
  await database.query(`REVOKE ALL ON DATABASE "${database.name}" FROM PUBLIC`);
  await database.query(`GRANT CONNECT ON DATABASE "${database.name}" TO "${name}"`);
  await database.query('REVOKE ALL ON SCHEMA public FROM PUBLIC');
  await database.query(`GRANT USAGE ON SCHEMA public TO "${name}"`);
  await database.query(`GRANT SELECT ON TABLE "user", script, execution TO "${name}"`);
  await database.query('CREATE TABLE api_secret (token text)');
  await database.query("INSERT INTO api_secret VALUES ('not for stats-refresh')");
  const url = new URL(database.url);
  url.username = name;
  url.password = '';
  return {
    name,
    url: url.toString(),
    async drop() {
      await database.query(`REASSIGN OWNED BY "${name}" TO CURRENT_USER`).catch(() => undefined);
      await database.query(`DROP OWNED BY "${name}"`).catch(() => undefined);
      await adminQuery(`DROP ROLE IF EXISTS "${name}"`);
    },
  };
}
