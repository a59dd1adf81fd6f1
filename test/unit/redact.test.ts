import { describe, expect, it } from 'vitest';
import { credentialsOf, redact, safeUrl } from '../../src/lib/redact.js';

describe('redact: URL passwords in free text', () => {
  it('replaces a PostgreSQL password, keeping user, host and database', () => {
    expect(redact('connect postgres://user:pw@host:5432/db failed')).toBe('connect postgres://user:***@host:5432/db failed');
  });

  it('replaces a Redis password with an empty user', () => {
    expect(redact('redis://:pw@host:6379/0 refused')).toBe('redis://:***@host:6379/0 refused');
  });

  it('replaces every URL password in the text', () => {
    expect(redact('a postgres://a:one@h1/d, then rediss://default:two@h2:6380 and POSTGRESQL://B:three@h3')).toBe(
      'a postgres://a:***@h1/d, then rediss://default:***@h2:6380 and POSTGRESQL://B:***@h3',
    );
  });

  it('replaces passwords that are percent-encoded or contain a colon', () => {
    expect(redact('postgresql://u:p%40ss@h/db')).toBe('postgresql://u:***@h/db');
    expect(redact('rediss://default:abc:def@h')).toBe('rediss://default:***@h');
  });

  it('replaces a password inside JSON or quotes', () => {
    expect(redact('{"url":"postgres://u:pw@h/db"}')).toBe('{"url":"postgres://u:***@h/db"}');
    expect(redact("url='redis://:pw@h:1/0'")).toBe("url='redis://:***@h:1/0'");
  });

  it('leaves URLs without a password and plain emails alone', () => {
    for (const text of [
      'postgres://user@host/db',
      'redis://127.0.0.1:6379/0',
      'http://host:8080/path?x=1',
      'mail admin@example.com about host:5432',
      'connect to postgres://host:5432/db as admin@example.com',
      '',
    ]) {
      expect(redact(text), text).toBe(text);
    }
  });

  it('redacts an empty password too (nothing left to leak)', () => {
    expect(redact('postgres://u:@h/db')).toBe('postgres://u:***@h/db');
  });

  // Regression: found by review of src/lib/redact.ts.
  it('hides a password that contains a raw @ (the URL parser splits at the last @)', () => {
    const text = 'connect postgres://u:p@ssw0rd@host/db failed';
    expect(redact(text)).toBe('connect postgres://u:***@host/db failed');
    expect(redact(text, ['p@ssw0rd', 'p%40ssw0rd'])).not.toContain('ssw0rd');
  });

  // Regression: found by review of src/lib/redact.ts.
  it('hides the password when the user name contains a raw @', () => {
    expect(redact('connect postgres://me@corp:s3cretpw@host/db failed')).not.toContain('s3cretpw');
  });
});

describe('redact: credentials in query parameters', () => {
  it('replaces every parameter that carries a credential, keeping the others', () => {
    expect(redact('redis://h:6379/0?password=s3cret&db=2 refused')).toBe('redis://h:6379/0?password=***&db=2 refused');
    expect(redact('postgres://u@h/d?sslmode=require&sslpassword=k3y&sslkey=/keys/client.key')).toBe(
      'postgres://u@h/d?sslmode=require&sslpassword=***&sslkey=***',
    );
    expect(redact('"url":"http://h/x?Token=abc123&x=1"')).toBe('"url":"http://h/x?Token=***&x=1"');
    expect(redact('redis://:pw@h/0?password=two')).toBe('redis://:***@h/0?password=***');
  });

  it('leaves other parameters and text alone', () => {
    for (const text of ['postgres://u@h/d?sslmode=verify-full&sslrootcert=/ca.pem', 'password authentication failed', 'a passwordless=x']) {
      expect(redact(text), text).toBe(text);
    }
  });

  it('credentialsOf: the raw and decoded values, to scrub wherever they appear alone', () => {
    expect(credentialsOf('redis://:p%40w@h/0?password=a%2Bb&db=1').sort()).toEqual(['a%2Bb', 'a+b', 'p%40w', 'p@w'].sort());
    expect(credentialsOf('not a url')).toEqual([]);
  });
});

describe('redact: given secrets', () => {
  it('replaces every occurrence of each secret', () => {
    expect(redact('token tok-123456 sent; again tok-123456', ['tok-123456'])).toBe('token *** sent; again ***');
    expect(redact('alpha1 and beta22', ['alpha1', 'beta22'])).toBe('*** and ***');
  });

  it('replaces secrets literally, not as patterns', () => {
    expect(redact('key a.b*c(d) and axbbbc', ['a.b*c(d)'])).toBe('key *** and axbbbc');
  });

  it('replaces a password outside any URL', () => {
    expect(redact('password authentication failed: s3cretpw', ['s3cretpw'])).toBe('password authentication failed: ***');
  });

  it('applies both the URL pass and the secrets', () => {
    expect(redact('postgres://u:s3cretpw@h/db token=rollbar-xyz', ['s3cretpw', 'rollbar-xyz'])).toBe(
      'postgres://u:***@h/db token=***',
    );
  });

  it('ignores secrets shorter than 4 characters (they would mangle ordinary text)', () => {
    expect(redact('a bc abc', ['', 'a', 'bc', 'abc'])).toBe('a bc abc');
    expect(redact('a abcd', ['abcd'])).toBe('a ***');
  });

  it('defaults to no secrets', () => {
    expect(redact('plain s3cretpw')).toBe('plain s3cretpw');
  });
});

describe('safeUrl', () => {
  const cases: Array<[string, string]> = [
    ['postgres://user:pw@host:5432/db', 'postgres://user:***@host:5432/db'],
    ['redis://:pw@h:1/0', 'redis://:***@h:1/0'],
    ['rediss://default:pw@h:6380', 'rediss://default:***@h:6380'],
    ['postgresql://u:p%40ss@h/db', 'postgresql://u:***@h/db'],
    ['postgres://u:pw@h/db?sslmode=require', 'postgres://u:***@h/db?sslmode=require'],
    ['postgres://u:p@ssw0rd@host/db', 'postgres://u:***@host/db'],
    ['postgres://user@host/db', 'postgres://user@host/db'],
    ['redis://127.0.0.1:6379/0', 'redis://127.0.0.1:6379/0'],
    ['redis://127.0.0.1:6379/0?password=pw', 'redis://127.0.0.1:6379/0?password=***'],
  ];
  it.each(cases)('%s → %s', (url, expected) => {
    expect(safeUrl(url)).toBe(expected);
  });

  it('does not echo unparseable text at all', () => {
    expect(safeUrl('not a url with s3cretpw')).toBe('(unparseable URL)');
    expect(safeUrl('')).toBe('(unparseable URL)');
    expect(safeUrl('postgres//u:s3cretpw@h/db')).toBe('(unparseable URL)');
  });
});
