/**
 * PostgreSQL over TLS, against a private PostgreSQL cluster that accepts TLS connections
 * only (`hostssl` in pg_hba.conf) with a certificate from a test CA: every sslmode does
 * what libpq documents, a certificate that does not verify is one line and exit 3, and
 * node-postgres never gets to print its own warnings.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { pgOptionsOf } from '../../src/io/connections.js';
import { pgConnectionConfig } from '../../src/io/db.js';
import { runCli, summaryOf, type CliRun } from '../helpers/cli.js';
import { GOLDEN_KEYS, goldenValue } from '../helpers/golden.js';
import { GOLDEN_NOW, readKeys } from '../helpers/services.js';
import { RedisServer } from '../helpers/redis-server.js';
import { type TestCertificates, type TlsPostgres, loadGolden, makeCertificates, startTlsPostgres } from '../helpers/tls.js';

const DATABASE = 'golden';

let certs: TestCertificates;
let server: TlsPostgres;

beforeAll(async () => {
  certs = makeCertificates();
  server = await startTlsPostgres(certs);
  await loadGolden(server, DATABASE);
});

afterAll(async () => {
  await server?.stop();
  certs?.remove();
});

/** Every stderr line a JSON log line, or one single error line: nothing a library printed itself. */
function expectOnlyOurOutput(run: CliRun): void {
  expect(run.stderr).not.toMatch(/SECURITY WARNING|Warning:|\[WARN\]/);
  expect(run.messages.length, run.stderr).toBeLessThanOrEqual(1);
  expect(run.stdout + run.stderr).not.toContain(server.password);
}

/** A dry run of the dashboard family: connects, computes, writes nothing, needs no Redis. */
function dryRun(url: string): Promise<CliRun> {
  return runCli(['refresh', 'dashboard', '--dry-run', '--now', GOLDEN_NOW], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
}

function expectConnected(run: CliRun): void {
  expectOnlyOurOutput(run);
  expect(run.messages, run.stderr).toEqual([]);
  expect(run.code, run.stderr).toBe(0);
  expect(summaryOf(run)).toMatchObject({ failed: 0 });
  expect(summaryOf(run).successful).toBeGreaterThan(0);
}

/** Exit 3 with one line naming the cause; the password hidden. */
function expectUnreachable(run: CliRun, cause: RegExp): string {
  expectOnlyOurOutput(run);
  expect(run.code, run.stderr).toBe(3);
  expect(run.messages).toHaveLength(1);
  const [line] = run.messages;
  expect(line).toMatch(/^stats-refresh: PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.\d:\d+\/golden\?\S* is unreachable \(/);
  expect(line).toMatch(cause);
  expect(run.stdout).toBe('');
  return line!;
}

describe('refresh all over sslmode=verify-full with the CA as sslrootcert', () => {
  let run: CliRun;
  let written: Map<string, string>;

  beforeAll(async () => {
    const redis = await RedisServer.start();
    try {
      run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW], {
        DATABASE_URL: server.url(DATABASE, `sslmode=verify-full&sslrootcert=${certs.caFile}`),
        REDIS_URL: redis.url(0),
      });
      const { Redis } = await import('ioredis');
      const client = new Redis(redis.url(0));
      written = await readKeys(client, 'stats_service:*');
      client.disconnect();
    } finally {
      await redis.stop();
    }
  });

  it('exits 0 with every config written and only JSON log lines on stderr', () => {
    expectOnlyOurOutput(run);
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    expect(summaryOf(run)).toMatchObject({ total_refreshed: 26, successful: 26, failed: 0 });
  });

  it('writes exactly the golden keys', () => {
    expect([...written.keys()].sort()).toEqual([...GOLDEN_KEYS]);
  });

  it.each([...GOLDEN_KEYS])('%s equals the API entry', (key) => {
    expect(JSON.parse(written.get(key) ?? 'null')).toStrictEqual(goldenValue(key));
  });
});

describe('sslmode as libpq documents it', () => {
  it('verify-full accepts the certificate by its DNS name too (localhost)', async () => {
    expectConnected(await dryRun(server.url(DATABASE, `sslmode=verify-full&sslrootcert=${certs.caFile}`, 'localhost')));
  });

  it('verify-full with the wrong CA is exit 3: not trusted, one line, sslrootcert named', async () => {
    const line = expectUnreachable(
      await dryRun(server.url(DATABASE, `sslmode=verify-full&sslrootcert=${certs.otherCaFile}`)),
      /certificate of 127\.0\.0\.1 not trusted, [A-Z_]+; set sslrootcert=<CA file> in DATABASE_URL, or check it is the server's CA/,
    );
    expect(line).not.toMatch(/\n/);
  });

  it("verify-full without sslrootcert checks against Node's CAs, which do not include the test CA", async () => {
    expectUnreachable(await dryRun(server.url(DATABASE, 'sslmode=verify-full')), /certificate of 127\.0\.0\.1 not trusted/);
  });

  it('verify-full refuses a host the certificate does not name (127.0.0.2)', async () => {
    expectUnreachable(
      await dryRun(server.url(DATABASE, `sslmode=verify-full&sslrootcert=${certs.caFile}`, '127.0.0.2')),
      /certificate does not name 127\.0\.0\.2, ERR_TLS_CERT_ALTNAME_INVALID.*or use sslmode=verify-ca/,
    );
  });

  it('verify-ca accepts that host: it checks the chain, not the name', async () => {
    expectConnected(await dryRun(server.url(DATABASE, `sslmode=verify-ca&sslrootcert=${certs.caFile}`, '127.0.0.2')));
  });

  it('verify-ca still checks the chain', async () => {
    expectUnreachable(
      await dryRun(server.url(DATABASE, `sslmode=verify-ca&sslrootcert=${certs.otherCaFile}`, '127.0.0.2')),
      /certificate of 127\.0\.0\.2 not trusted/,
    );
  });

  it('require works without a CA, and says nothing about it', async () => {
    expectConnected(await dryRun(server.url(DATABASE, 'sslmode=require')));
  });

  it("Node's own warnings (here about NODE_TLS_REJECT_UNAUTHORIZED=0) come out as JSON log lines", async () => {
    const run = await runCli(['refresh', 'dashboard', '--dry-run', '--now', GOLDEN_NOW], {
      DATABASE_URL: server.url(DATABASE, 'sslmode=require'),
      LOG_LEVEL: 'warn',
      NODE_TLS_REJECT_UNAUTHORIZED: '0',
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.logs).toContainEqual(
      expect.objectContaining({ level: 'warn', warning: 'Warning', msg: expect.stringMatching(/NODE_TLS_REJECT_UNAUTHORIZED/) }),
    );
  });

  it('require with sslrootcert verifies the chain like verify-ca: the wrong CA is exit 3', async () => {
    expectUnreachable(
      await dryRun(server.url(DATABASE, `sslmode=require&sslrootcert=${certs.otherCaFile}`, '127.0.0.2')),
      /certificate of 127\.0\.0\.2 not trusted/,
    );
    expectConnected(await dryRun(server.url(DATABASE, `sslmode=require&sslrootcert=${certs.caFile}`, '127.0.0.2')));
  });

  it('disable is refused by a TLS-only server: exit 3, saying TLS is required', async () => {
    expectUnreachable(
      await dryRun(server.url(DATABASE, 'sslmode=disable')),
      /no pg_hba\.conf entry .*no encryption; the server requires TLS: add sslmode=verify-full&sslrootcert=<CA file>/,
    );
  });

  it('no sslmode means no TLS, as before: refused the same way', async () => {
    const run = await dryRun(server.url(DATABASE));
    expect(run.code).toBe(3);
    expect(run.messages.join('\n')).toMatch(/no encryption; the server requires TLS/);
  });

  it.each([
    ['an unknown sslmode', 'sslmode=strict', /DATABASE_URL: unknown sslmode "strict"; expected one of disable, require, verify-ca, verify-full/],
    ['prefer', 'sslmode=prefer', /DATABASE_URL: sslmode=prefer is not supported .*falls back to no TLS/],
    ['allow', 'sslmode=allow', /DATABASE_URL: sslmode=allow is not supported/],
    ['verify-ca without a CA', 'sslmode=verify-ca', /DATABASE_URL: sslmode=verify-ca needs sslrootcert=<CA file>/],
    ['an sslrootcert that does not exist', 'sslmode=verify-full&sslrootcert=/nonexistent/ca.pem', /DATABASE_URL sslrootcert: cannot read \/nonexistent\/ca\.pem \(ENOENT/],
    ['a folder as sslrootcert', 'sslmode=verify-full&sslrootcert=/tmp', /DATABASE_URL sslrootcert: cannot read \/tmp \(a folder, not a file\)/],
    ['a key as sslrootcert', 'sslmode=verify-full&sslrootcert=KEY', /DATABASE_URL sslrootcert: .* holds no PEM certificate/],
    ['node-postgres\'s ssl=true', 'ssl=true', /DATABASE_URL: ssl= is node-postgres's own parameter; use sslmode/],
    ['a client certificate', 'sslmode=verify-full&sslcert=/x.crt&sslkey=/x.key', /DATABASE_URL: sslcert= client certificates are not supported/],
  ])('%s is exit 2, one line, nothing attempted', async (_name, query, message) => {
    const run = await dryRun(server.url(DATABASE, query.replace('KEY', certs.notACertificate)));
    expect(run.code, run.stderr).toBe(2);
    expect(run.messages).toHaveLength(1);
    expect(run.messages[0]).toMatch(message);
    expect(run.logs).toEqual([]);
    expect(run.stdout + run.stderr).not.toContain(server.password);
  });
});

/** What the server says about this very connection. */
const TRANSPORT = "SELECT CASE WHEN ssl THEN 'tls' ELSE 'plain' END AS transport FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

describe('pgConnectionConfig: any client made from it gets the same TLS checks', () => {
  const configOf = (query: string, host?: string) =>
    pgConnectionConfig(pgOptionsOf(loadConfig({ databaseUrl: server.url(DATABASE, query, host) }, {})));

  async function connectWith(config: pg.ClientConfig): Promise<string> {
    const client = new pg.Client(config);
    try {
      await client.connect();
      const { rows } = await client.query<{ transport: string }>(TRANSPORT);
      return rows[0]!.transport;
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  it('connects over TLS with verify-full and the CA', async () => {
    expect(await connectWith(configOf(`sslmode=verify-full&sslrootcert=${certs.caFile}`))).toBe('tls');
  });

  it('rejects the wrong CA and a host the certificate does not name', async () => {
    expect(await connectWith(configOf(`sslmode=verify-full&sslrootcert=${certs.otherCaFile}`))).toMatch(/VERIFY|SELF_SIGNED/);
    expect(await connectWith(configOf(`sslmode=verify-full&sslrootcert=${certs.caFile}`, '127.0.0.2'))).toBe(
      'ERR_TLS_CERT_ALTNAME_INVALID',
    );
  });

  it('hands node-postgres a URL without sslmode or sslrootcert (so it applies none of its own)', () => {
    const config = configOf(`sslmode=verify-full&sslrootcert=${certs.caFile}&application_name=x`);
    expect(config.connectionString).not.toMatch(/sslmode|sslrootcert/);
    expect(config.connectionString).toContain('application_name=x');
    expect(config.ssl).toMatchObject({ ca: expect.stringContaining('BEGIN CERTIFICATE') });
  });

  it('a pool made from it (as the run does) reports TLS on each connection', async () => {
    const pool = new pg.Pool({ ...configOf(`sslmode=verify-full&sslrootcert=${certs.caFile}`), max: 2 });
    try {
      const results = await Promise.all(
        [1, 2].map(() => pool.query<{ transport: string }>(TRANSPORT)),
      );
      expect(results.map((result) => result.rows[0]?.transport)).toEqual(['tls', 'tls']);
    } finally {
      await pool.end();
    }
  });
});
