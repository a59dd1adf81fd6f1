/**
 * Reading the TLS and secret-file settings: sslmode with libpq's meaning turned into
 * node-postgres options, rediss:// options, and the _FILE variables (real files in a
 * temporary folder). The servers themselves are in test/e2e/*-tls.test.ts.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FlagValues, loadConfig, secretsOf } from '../../src/config.js';
import { UsageError } from '../../src/lib/errors.js';
import { pgOptionsOf } from '../../src/io/connections.js';
import { pgConnectionConfig } from '../../src/io/db.js';
import { describeTlsFailure, pgSslOption, redisTlsOption } from '../../src/io/tls.js';
import { type TestCertificates, makeCertificates } from '../helpers/tls.js';

type Env = Record<string, string | undefined>;
const clock = () => new Date('2026-06-15T12:34:56Z');

let certs: TestCertificates;
let dir: string;
let caPem: string;

beforeAll(async () => {
  certs = makeCertificates();
  dir = mkdtempSync(join(tmpdir(), 'sr-test-files-'));
  const { readFileSync } = await import('node:fs');
  caPem = readFileSync(certs.caFile, 'utf8');
});

afterAll(() => {
  certs?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A file in the test folder holding `content`; its path. */
function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function usageMessage(flags: FlagValues, env: Env): string {
  let caught: unknown;
  try {
    loadConfig(flags, env, clock);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(UsageError);
  return (caught as UsageError).message;
}

const db = (query: string) => loadConfig({ databaseUrl: `postgres://u:pw@db.example:5432/api?${query}` }, {}, clock);

describe('sslmode in DATABASE_URL', () => {
  it('means no TLS when absent or disable', () => {
    expect(db('').databaseTls).toEqual({ mode: 'disable', rootCert: null, negotiation: null });
    expect(db('sslmode=disable').databaseTls).toEqual({ mode: 'disable', rootCert: null, negotiation: null });
  });

  it('reads the sslrootcert file once, at start', () => {
    expect(db(`sslmode=verify-full&sslrootcert=${certs.caFile}`).databaseTls).toEqual({
      mode: 'verify-full',
      rootCert: { path: certs.caFile, pem: caPem },
      negotiation: null,
    });
  });

  it('accepts sslrootcert=system (Node\'s CAs) with verify-full only, as libpq does', () => {
    expect(db('sslmode=verify-full&sslrootcert=system').databaseTls.rootCert).toBe('system');
    expect(usageMessage({ databaseUrl: 'postgres://h/d?sslmode=require&sslrootcert=system' }, {})).toMatch(
      /sslrootcert=system needs sslmode=verify-full, got require/,
    );
  });

  it('refuses sslrootcert without sslmode: it would be ignored', () => {
    expect(usageMessage({}, { DATABASE_URL: `postgres://h/d?sslrootcert=${certs.caFile}` })).toMatch(
      /^DATABASE_URL: sslrootcert is set without sslmode/,
    );
  });

  it('takes sslnegotiation, direct only with TLS', () => {
    expect(db('sslmode=require&sslnegotiation=direct').databaseTls.negotiation).toBe('direct');
    expect(usageMessage({ databaseUrl: 'postgres://h/d?sslnegotiation=direct' }, {})).toMatch(/direct needs TLS/);
    expect(usageMessage({ databaseUrl: 'postgres://h/d?sslmode=require&sslnegotiation=fast' }, {})).toMatch(/unknown sslnegotiation "fast"/);
  });

  it.each(['sslcert', 'sslkey', 'sslpassword', 'sslcrl', 'sslcrldir', 'ssl', 'uselibpqcompat'])('refuses %s=', (name) => {
    expect(usageMessage({ databaseUrl: `postgres://h/d?sslmode=require&${name}=x` }, {})).toMatch(new RegExp(`^--database-url: ${name}= `));
  });

  it('refuses a CA file with a certificate that does not parse', () => {
    const broken = file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect(usageMessage({ databaseUrl: `postgres://h/d?sslmode=verify-full&sslrootcert=${broken}` }, {})).toMatch(
      /certificate 1 in .*broken\.pem is not a valid X\.509 certificate/,
    );
  });
});

describe('the ssl option node-postgres gets', () => {
  const ssl = (query: string) => pgSslOption(db(query).databaseTls);

  it.each([
    ['disable', 'sslmode=disable', false],
    ['require: TLS, no checks', 'sslmode=require', { rejectUnauthorized: false }],
    ['verify-full with Node\'s CAs', 'sslmode=verify-full', {}],
    ['verify-full with sslrootcert=system', 'sslmode=verify-full&sslrootcert=system', {}],
  ])('%s', (_name, query, expected) => {
    expect(ssl(query)).toEqual(expected);
  });

  it('verify-full with a CA: that CA only, and the default host name check', () => {
    const option = ssl(`sslmode=verify-full&sslrootcert=${certs.caFile}`);
    expect(option).toEqual({ ca: caPem });
  });

  it.each(['verify-ca', 'require'])('%s with a CA: the chain is checked, the name is not', (mode) => {
    const option = ssl(`sslmode=${mode}&sslrootcert=${certs.caFile}`);
    expect(option).toMatchObject({ ca: caPem });
    if (!option) throw new Error(`${mode}: no TLS`);
    expect('rejectUnauthorized' in option).toBe(false);
    expect(option.checkServerIdentity?.('not-the-host.example', {} as never)).toBeUndefined();
  });

  it('pgConnectionConfig carries it, with a URL node-postgres will not reinterpret', () => {
    const config = loadConfig({ databaseUrl: `postgres://u:pw@h:5/d?sslmode=verify-ca&sslrootcert=${certs.caFile}&sslnegotiation=direct&connect_timeout=3` }, {}, clock);
    const pgConfig = pgConnectionConfig(pgOptionsOf(config));
    const url = new URL(pgConfig.connectionString!);
    expect([...url.searchParams.keys()].sort()).toEqual(['connect_timeout', 'options']);
    expect(url.password).toBe('pw');
    expect(pgConfig.ssl).toMatchObject({ ca: caPem });
    expect(pgConfig.sslnegotiation).toBe('direct');
    // A fresh object each time: node-postgres may annotate the one it gets.
    expect(pgConnectionConfig(pgOptionsOf(config)).ssl).not.toBe(pgConfig.ssl);
  });
});

describe('Redis TLS', () => {
  it('uses none for redis://', () => {
    expect(redisTlsOption('redis://h:6379/0', null)).toBeUndefined();
  });

  it('for rediss://, checks against the CA given and sends the host name as SNI', () => {
    expect(redisTlsOption('rediss://cache.example:6380/0', { path: 'x', pem: caPem })).toEqual({ ca: caPem, servername: 'cache.example' });
    expect(redisTlsOption('rediss://cache.example:6380/0', null)).toEqual({ servername: 'cache.example' });
  });

  it('sends no SNI for an IP address (RFC 6066), the name check still applies', () => {
    expect(redisTlsOption('rediss://127.0.0.1:6380/0', null)).toEqual({});
    expect(redisTlsOption('rediss://[::1]:6380/0', null)).toEqual({});
  });

  it('reads REDIS_TLS_CA_FILE, the flag winning', () => {
    const config = loadConfig({}, { REDIS_URL: 'rediss://h:6380/0', REDIS_TLS_CA_FILE: certs.caFile }, clock);
    expect(config.redisTlsCa).toEqual({ path: certs.caFile, pem: caPem });
    const flagged = loadConfig({ redisTlsCaFile: certs.caFile }, { REDIS_URL: 'rediss://h:6380/0', REDIS_TLS_CA_FILE: '/nonexistent' }, clock);
    expect(flagged.redisTlsCa?.path).toBe(certs.caFile);
  });

  it('refuses a CA for a redis:// URL: it would not be used', () => {
    expect(usageMessage({}, { REDIS_URL: 'redis://h:6379/0', REDIS_TLS_CA_FILE: certs.caFile })).toMatch(
      /^REDIS_TLS_CA_FILE is set but REDIS_URL is not a rediss:\/\/ URL/,
    );
  });

  it.each([
    ['missing', '/nonexistent/ca.pem', /^REDIS_TLS_CA_FILE: cannot read \/nonexistent\/ca\.pem \(ENOENT: no such file\)$/],
    ['a key', 'KEY', /^REDIS_TLS_CA_FILE: .* holds no PEM certificate/],
  ])('refuses a CA file that is %s', (_name, path, message) => {
    const env = { REDIS_URL: 'rediss://h:6380/0', REDIS_TLS_CA_FILE: path.replace('KEY', certs.notACertificate) };
    expect(usageMessage({}, env)).toMatch(message);
  });
});

describe('describeTlsFailure', () => {
  const hints = { host: 'db.example', trust: 'set sslrootcert=<CA file> in DATABASE_URL', skipName: 'use sslmode=verify-ca' };

  it.each(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'])(
    '%s: not trusted, and how to trust',
    (code) => {
      expect(describeTlsFailure({ code, message: 'x' }, hints)).toBe(
        `certificate of db.example not trusted, ${code}; set sslrootcert=<CA file> in DATABASE_URL, or check it is the server's CA`,
      );
    },
  );

  it('a name mismatch, and how to skip the check', () => {
    const error = { code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames: Host: db.example. is not in the cert's altnames: DNS:other" };
    expect(describeTlsFailure(error, hints)).toBe(
      "certificate does not name db.example, ERR_TLS_CERT_ALTNAME_INVALID: Host: db.example. is not in the cert's altnames: DNS:other; connect by a name the certificate holds, or use sslmode=verify-ca",
    );
  });

  it('an expired certificate', () => {
    expect(describeTlsFailure({ code: 'CERT_HAS_EXPIRED' }, hints)).toMatch(/^certificate of db\.example has expired, CERT_HAS_EXPIRED;/);
  });

  it('nothing for other errors', () => {
    expect(describeTlsFailure({ code: 'ECONNREFUSED', message: 'refused' }, hints)).toBeNull();
    expect(describeTlsFailure(new Error('plain'), hints)).toBeNull();
  });
});

describe('_FILE variables', () => {
  const VARIABLES = [
    ['DATABASE_URL', 'postgres://u:db-file-pw@db.example/api', 'databaseUrl'],
    ['REDIS_URL', 'rediss://:redis-file-pw@cache.example:6380/1', 'redisUrl'],
    ['ROLLBAR_ACCESS_TOKEN', 'rollbar-file-token-123', 'rollbarToken'],
  ] as const;

  it.each(VARIABLES)('reads %s_FILE, trailing newlines removed', (variable, value, field) => {
    const config = loadConfig({}, { [`${variable}_FILE`]: file(`${variable}.lf`, `${value}\n`) }, clock);
    expect(config[field]).toBe(value);
    expect(loadConfig({}, { [`${variable}_FILE`]: file(`${variable}.crlf`, `${value}\r\n\r\n`) }, clock)[field]).toBe(value);
    expect(loadConfig({}, { [`${variable}_FILE`]: file(`${variable}.none`, value) }, clock)[field]).toBe(value);
  });

  it.each(VARIABLES)('refuses %s together with its _FILE, naming both', (variable, value) => {
    const env = { [variable]: value, [`${variable}_FILE`]: file(`${variable}.both`, value) };
    const message = usageMessage({}, env);
    expect(message).toBe(`${variable} and ${variable}_FILE are both set; set only one of them`);
    expect(message).not.toContain(value);
  });

  it.each(VARIABLES)('refuses an unreadable %s_FILE, naming the variable and never the content', (variable, value) => {
    expect(usageMessage({}, { [`${variable}_FILE`]: '/nonexistent/secret' })).toBe(
      `${variable}_FILE: cannot read /nonexistent/secret (ENOENT: no such file)`,
    );
    const folder = join(dir, `${variable}.d`);
    mkdirSync(folder, { recursive: true });
    expect(usageMessage({}, { [`${variable}_FILE`]: folder })).toBe(`${variable}_FILE: cannot read ${folder} (a folder, not a file)`);
    const empty = file(`${variable}.empty`, '\n');
    expect(usageMessage({}, { [`${variable}_FILE`]: empty })).toBe(`${variable}_FILE: ${empty} is empty`);
    expect(value).toBeTruthy();
  });

  it('names the _FILE variable when its URL is wrong, without echoing it', () => {
    const message = usageMessage({}, { REDIS_URL_FILE: file('bad-redis', 'http://:redis-file-pw@cache.example/0\n') });
    expect(message).toMatch(/^REDIS_URL_FILE must be a redis: or rediss: URL/);
    expect(message).not.toContain('redis-file-pw');
    expect(usageMessage({}, { DATABASE_URL_FILE: file('bad-db', 'postgres://u:db-file-pw@h/d?sslmode=strict') })).toMatch(
      /^DATABASE_URL_FILE: unknown sslmode "strict"/,
    );
  });

  it('lets a flag win over either variable without reading the file; both variables stay an error', () => {
    const flags = { databaseUrl: 'postgres://flag@h/d', redisUrl: 'redis://flag:6379/0' };
    const config = loadConfig(flags, { DATABASE_URL_FILE: '/nonexistent/a', REDIS_URL_FILE: '/nonexistent/b' }, clock);
    expect(config.databaseUrl).toBe('postgres://flag@h/d');
    expect(config.redisUrl).toBe('redis://flag:6379/0');
    expect(usageMessage(flags, { DATABASE_URL: 'postgres://e@h/d', DATABASE_URL_FILE: '/nonexistent/a' })).toMatch(/both set/);
  });

  it('treats an empty _FILE variable as unset', () => {
    expect(loadConfig({}, { DATABASE_URL: 'postgres://env@h/d', DATABASE_URL_FILE: '' }, clock).databaseUrl).toBe('postgres://env@h/d');
  });

  it('hides the passwords and the token read from files', () => {
    const config = loadConfig(
      {},
      Object.fromEntries(VARIABLES.map(([variable, value]) => [`${variable}_FILE`, file(`${variable}.secret`, `${value}\n`)])),
      clock,
    );
    expect(new Set(secretsOf(config))).toEqual(new Set(['db-file-pw', 'redis-file-pw', 'rollbar-file-token-123']));
  });
});
