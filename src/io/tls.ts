/**
 * TLS to PostgreSQL and Redis. PostgreSQL's settings come from libpq's parameters in
 * DATABASE_URL (sslmode, sslrootcert, sslnegotiation), read here with libpq's meaning and
 * handed to node-postgres as an explicit `ssl` object; they are taken out of the URL, so
 * node-postgres never applies its own sslmode mapping (nor prints its warning about it).
 * Redis uses TLS for `rediss://` URLs, with an optional CA file.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { UsageError } from '../lib/errors.js';
import { type CertificateFile, readCertificateFile } from './files.js';

/** The sslmode values we honour, weakest first. */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** libpq's modes that may fall back to plaintext without saying so. */
const FALLBACK_MODES: Readonly<Record<string, string>> = {
  allow: 'tries without TLS first',
  prefer: 'falls back to no TLS when the server has none',
};

/** Parameters we read and remove from the URL before node-postgres sees it. */
const TLS_PARAMETERS = ['sslmode', 'sslrootcert', 'sslnegotiation'] as const;

/** Parameters node-postgres would act on in its own way, or libpq ones we do not implement. */
const REFUSED_PARAMETERS: Readonly<Record<string, string>> = {
  ssl: "is node-postgres's own parameter; use sslmode",
  uselibpqcompat: 'is not needed: sslmode already has its libpq meaning here',
  sslcert: 'client certificates are not supported',
  sslkey: 'client certificates are not supported',
  sslpassword: 'client certificates are not supported',
  sslcrl: 'certificate revocation lists are not supported',
  sslcrldir: 'certificate revocation lists are not supported',
};

export interface PostgresTls {
  readonly mode: SslMode;
  /** sslrootcert: a CA file, 'system' for Node's bundled CAs, or null (not given). */
  readonly rootCert: CertificateFile | 'system' | null;
  /** sslnegotiation=direct starts TLS at once (PostgreSQL 17+); null or 'postgres' asks first. */
  readonly negotiation: 'postgres' | 'direct' | null;
}

function parseMode(value: string | null, setting: string): SslMode | null {
  if (value === null) return null;
  if ((SSL_MODES as readonly string[]).includes(value)) return value as SslMode;
  const fallback = FALLBACK_MODES[value];
  if (fallback) {
    throw new UsageError(
      `${setting}: sslmode=${value} is not supported (libpq's ${value} ${fallback}); use sslmode=verify-full, verify-ca or require, or sslmode=disable`,
    );
  }
  throw new UsageError(`${setting}: unknown sslmode ${JSON.stringify(value)}; expected one of ${SSL_MODES.join(', ')}`);
}

function parseNegotiation(value: string | null, mode: SslMode, setting: string): PostgresTls['negotiation'] {
  if (value === null) return null;
  if (value !== 'postgres' && value !== 'direct') {
    throw new UsageError(`${setting}: unknown sslnegotiation ${JSON.stringify(value)}; expected postgres or direct`);
  }
  if (value === 'direct' && mode === 'disable') {
    throw new UsageError(`${setting}: sslnegotiation=direct needs TLS; use sslmode=require, verify-ca or verify-full`);
  }
  return value;
}

/**
 * Reads the TLS parameters of a PostgreSQL URL with libpq's meaning, and the sslrootcert
 * file once. Throws UsageError naming `setting` for anything unknown, unsupported or
 * unreadable.
 */
export function parsePostgresTls(url: string, setting: string): PostgresTls {
  const params = new URL(url).searchParams;
  for (const [name, why] of Object.entries(REFUSED_PARAMETERS)) {
    if (params.has(name)) throw new UsageError(`${setting}: ${name}= ${why}`);
  }
  const given = parseMode(params.get('sslmode'), setting);
  const rootCertPath = params.get('sslrootcert');
  if (given === null && rootCertPath !== null) {
    throw new UsageError(`${setting}: sslrootcert is set without sslmode; add sslmode=verify-full (or verify-ca)`);
  }
  // No sslmode: no TLS, as before (libpq would try `prefer`, which we refuse).
  const mode = given ?? 'disable';
  const negotiation = parseNegotiation(params.get('sslnegotiation'), mode, setting);
  if (mode === 'disable') return Object.freeze({ mode, rootCert: null, negotiation });
  if (rootCertPath === 'system') {
    // As libpq: trusting every public CA is only safe when the host name is checked too.
    if (mode !== 'verify-full') throw new UsageError(`${setting}: sslrootcert=system needs sslmode=verify-full, got ${mode}`);
    return Object.freeze({ mode, rootCert: 'system', negotiation });
  }
  if (rootCertPath === null && mode === 'verify-ca') {
    throw new UsageError(
      `${setting}: sslmode=verify-ca needs sslrootcert=<CA file> (any certificate a public CA issued would pass a chain-only check)`,
    );
  }
  const rootCert = rootCertPath === null ? null : readCertificateFile(rootCertPath, `${setting} sslrootcert`);
  return Object.freeze({ mode, rootCert, negotiation });
}

/** `url` without the TLS parameters parsePostgresTls read; everything else untouched. */
export function withoutTlsParameters(url: string): string {
  const parsed = new URL(url);
  if (!TLS_PARAMETERS.some((name) => parsed.searchParams.has(name))) return url;
  for (const name of TLS_PARAMETERS) parsed.searchParams.delete(name);
  return parsed.toString();
}

/** Accepts any name: verify-ca checks the chain only. */
const ANY_NAME = (): undefined => undefined;

/**
 * node-postgres's `ssl` option for a mode, as libpq documents it:
 * - disable: no TLS;
 * - require: TLS without checks, unless sslrootcert is given: then the chain, as verify-ca;
 * - verify-ca: the chain up to sslrootcert, not the host name;
 * - verify-full: the chain and the host name (sslrootcert, or Node's bundled CAs).
 * A fresh object each time: node-postgres may annotate it.
 */
export function pgSslOption(tls: PostgresTls): false | ConnectionOptions {
  if (tls.mode === 'disable') return false;
  const ca = tls.rootCert && tls.rootCert !== 'system' ? { ca: tls.rootCert.pem } : {};
  if (tls.mode === 'verify-full') return { ...ca };
  if (tls.mode === 'require' && tls.rootCert === null) return { rejectUnauthorized: false };
  return { ...ca, checkServerIdentity: ANY_NAME };
}

/**
 * ioredis's `tls` option: none for `redis://`; for `rediss://`, the chain checked against
 * `ca` (else Node's bundled CAs) and the host name checked, sent as SNI unless it is an IP.
 */
export function redisTlsOption(url: string, ca: CertificateFile | null): ConnectionOptions | undefined {
  const parsed = new URL(url);
  if (parsed.protocol !== 'rediss:') return undefined;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { ...(ca ? { ca: ca.pem } : {}), ...(host && isIP(host) === 0 ? { servername: host } : {}) };
}

/** OpenSSL's codes for a chain that does not lead to a trusted CA. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
]);

export interface TlsHints {
  /** The host as connected to, for "certificate of <host>". */
  readonly host: string;
  /** How to trust the server's CA, e.g. "set sslrootcert=<CA file> in DATABASE_URL". */
  readonly trust: string;
  /** How to skip the host name check, if there is a way. */
  readonly skipName?: string;
}

/**
 * One clause saying why a TLS handshake failed and what to change, or null when `error`
 * is not a certificate failure.
 */
export function describeTlsFailure(error: unknown, hints: TlsHints): string | null {
  const { code, message } = error as { code?: string; message?: string };
  if (!code) return null;
  if (UNTRUSTED.has(code)) {
    return `certificate of ${hints.host} not trusted, ${code}; ${hints.trust}, or check it is the server's CA`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `certificate of ${hints.host} ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'}, ${code}; check the server's certificate and this machine's clock`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const detail = (message ?? '').split(': ').slice(1).join(': ');
    return `certificate does not name ${hints.host}, ${code}${detail ? `: ${detail}` : ''}; connect by a name the certificate holds${hints.skipName ? `, or ${hints.skipName}` : ''}`;
  }
  return null;
}
