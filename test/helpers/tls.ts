/**
 * Private TLS servers on loopback, made by the tests that use them (once per test file)
 * and removed afterwards: a CA and a server certificate made with openssl, a PostgreSQL
 * cluster that accepts TLS connections only, and a redis-server with no plaintext port.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './services.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisServer } from './redis-server.js';
import pg from 'pg';

export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed the servers' certificate. */
  readonly caFile: string;
  /** A CA that signed nothing here: "the wrong CA". */
  readonly otherCaFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** A server key, not a certificate: a file that must be refused as a CA. */
  readonly notACertificate: string;
  remove(): void;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function selfSignedCa(dir: string, name: string, subject: string): void {
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.crt`],
    dir,
  );
}

/**
 * A test CA, a server certificate it signed for 127.0.0.1 and localhost (not 127.0.0.2,
 * which tests use as a host the certificate does not name), and an unrelated CA.
 */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'sr-test-certs-'));
  selfSignedCa(dir, 'ca', '/CN=stats-refresh test CA');
  selfSignedCa(dir, 'other-ca', '/CN=an unrelated CA');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr'], dir);
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.crt'],
    dir,
  );
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    otherCaFile: join(dir, 'other-ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    notACertificate: join(dir, 'server.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}


/** PostgreSQL 15's programs (the version the API runs), else the newest installed. */
function pgBinDir(): string {
  if (process.env.TEST_PG_BINDIR) return process.env.TEST_PG_BINDIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const version = versions.includes('15') ? '15' : versions[0];
  if (!version) throw new Error(`no PostgreSQL under ${root}; set TEST_PG_BINDIR`);
  return join(root, version, 'bin');
}

const SERVER_USER = 'postgres';
const isRoot = () => process.getuid?.() === 0;

/** initdb and postgres refuse to run as root: run them as the postgres OS user then. */
function asServerUser(program: string, args: readonly string[]): string {
  const command = isRoot() ? ['runuser', '-u', SERVER_USER, '--', program, ...args] : [program, ...args];
  return execFileSync(command[0]!, command.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function chownToServerUser(path: string): void {
  if (!isRoot()) return;
  const uid = Number(execFileSync('id', ['-u', SERVER_USER], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', SERVER_USER], { encoding: 'utf8' }));
  chownSync(path, uid, gid);
}

export interface TestPostgres {
  readonly port: number;
  /** The superuser `postgres`'s password; every TCP connection needs it (over TLS, for a TLS cluster). */
  readonly password: string;
  /** A URL for `database` on `host` with these query parameters, e.g. `sslmode=verify-full&sslrootcert=...`. */
  url(database: string, query?: string, host?: string): string;
  /** Runs SQL as the superuser over the cluster's Unix socket (not through the code under test). */
  query(database: string, text: string): Promise<pg.QueryResult>;
  /** A fast restart (`pg_ctl restart -m fast`): every session is terminated, the server comes back on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export type TlsPostgres = TestPostgres;

/**
 * A fresh cluster on a free port, listening on 127.0.0.1 and 127.0.0.2, `ssl = on` with
 * the test certificates, and a pg_hba.conf of `hostssl` lines only (scram passwords).
 */
export function startTlsPostgres(certs: TestCertificates): Promise<TlsPostgres> {
  return startPostgres(certs);
}

/**
 * A fresh cluster of the test's own on a free port (127.0.0.1 and 127.0.0.2), scram
 * passwords over TCP; with `certs`, TLS connections only. Removed by `stop()`.
 */
export async function startPostgres(certs: TestCertificates | null = null): Promise<TestPostgres> {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'sr-test-pg-'));
  const data = join(dir, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  chmodSync(dir, 0o755);
  chownToServerUser(dir);
  writeFileSync(join(dir, 'pwfile'), `${password}\n`);
  chownToServerUser(join(dir, 'pwfile'));
  asServerUser(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--pwfile', join(dir, 'pwfile'), '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  if (certs) {
    for (const [from, to] of [
      [certs.serverCert, 'server.crt'],
      [certs.serverKey, 'server.key'],
    ] as const) {
      copyFileSync(from, join(data, to));
      chmodSync(join(data, to), 0o600);
      chownToServerUser(join(data, to));
    }
  }
  const host = certs ? 'hostssl' : 'host';
  writeFileSync(
    join(data, 'pg_hba.conf'),
    ['local all all trust', `${host} all all 127.0.0.1/32 scram-sha-256`, `${host} all all 127.0.0.2/32 scram-sha-256`, ''].join('\n'),
  );
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      "listen_addresses = '127.0.0.1,127.0.0.2'",
      `unix_socket_directories = '${dir}'`,
      ...(certs ? ['ssl = on', "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"] : []),
      // A throwaway cluster: durability only costs time.
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      '',
    ].join('\n'),
  );
  const port = await startOnFreePort(bin, data, join(dir, 'server.log'));
  const socketClient = async (database: string) => {
    const client = new pg.Client({ host: dir, port, user: 'postgres', database });
    await client.connect();
    return client;
  };
  return {
    port,
    password,
    url: (database, query = '', host = '127.0.0.1') =>
      `postgres://postgres:${encodeURIComponent(password)}@${host}:${port}/${database}${query ? `?${query}` : ''}`,
    async query(database, text) {
      const client = await socketClient(database);
      try {
        return await client.query(text);
      } finally {
        await client.end();
      }
    },
    async restart() {
      // Not execFileSync: the test's own timers and child processes go on meanwhile.
      const command = isRoot() ? ['runuser', '-u', SERVER_USER, '--', join(bin, 'pg_ctl')] : [join(bin, 'pg_ctl')];
      await promisify(execFile)(command[0]!, [...command.slice(1), '-D', data, '-l', join(dir, 'server.log'), '-m', 'fast', '-w', '-t', '30', 'restart']);
    },
    async stop() {
      try {
        asServerUser(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function startOnFreePort(bin: string, data: string, log: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      asServerUser(join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-w', '-t', '30', '-o', `-p ${port}`, 'start']);
      return port;
    } catch (error) {
      if (attempt >= 3) throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${readFileSync(log, 'utf8')}`);
    }
  }
}

/** Creates `name` on the cluster with the golden fixture's schema and rows. */
export async function loadGolden(server: TestPostgres, name: string): Promise<void> {
  await server.query('postgres', `CREATE DATABASE "${name}"`);
  await server.query(name, readFileSync(new URL('../fixtures/golden/database.sql', import.meta.url), 'utf8'));
}

/** A redis-server with a TLS port only (see startTlsRedis). */
export type TlsRedis = RedisServer;

/**
 * A redis-server with a TLS port only (`--port 0`), on 127.0.0.1 and 127.0.0.2, serving
 * the test certificate; clients need no certificate of their own.
 */
export function startTlsRedis(certs: TestCertificates, options: { password?: string } = {}): Promise<TlsRedis> {
  return RedisServer.start({
    args: (port) => [
      '--port', '0',
      '--tls-port', String(port),
      '--bind', '127.0.0.1', '127.0.0.2',
      '--tls-cert-file', certs.serverCert,
      '--tls-key-file', certs.serverKey,
      '--tls-ca-cert-file', certs.caFile,
      '--tls-auth-clients', 'no',
      '--save', '',
      '--appendonly', 'no',
      ...(options.password ? ['--requirepass', options.password] : []),
    ],
    clientOptions: { tls: { ca: readFileSync(certs.caFile, 'utf8') }, ...(options.password ? { password: options.password } : {}) },
    scheme: 'rediss',
    auth: options.password ? `:${encodeURIComponent(options.password)}@` : '',
  });
}
