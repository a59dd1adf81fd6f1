/**
 * Small files named by the configuration, read once at start: secrets mounted by Docker
 * Swarm or Kubernetes, and CA certificates. Errors name the setting and the path, never
 * what the file holds.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../lib/errors.js';

/** More than any secret or CA bundle (the RDS global bundle is about 160 KB). */
const MAX_BYTES = 1024 * 1024;

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a parent is not a folder',
  ELOOP: 'too many symbolic links',
};

function cannotRead(setting: string, path: string, reason: string): UsageError {
  return new UsageError(`${setting}: cannot read ${path} (${reason})`);
}

/**
 * The text of the regular file at `path`. Throws UsageError naming `setting` when it is
 * missing, unreadable, not a regular file (a device would never end) or over 1 MiB.
 */
export function readSettingFile(path: string, setting: string): string {
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw cannotRead(setting, path, stats.isDirectory() ? 'a folder, not a file' : 'not a regular file');
    if (stats.size > MAX_BYTES) throw cannotRead(setting, path, `${stats.size} bytes, more than ${MAX_BYTES}`);
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw cannotRead(setting, path, REASONS[code] ? `${code}: ${REASONS[code]}` : code);
  }
}

/**
 * A secret file's value as the official database images read it: trailing newlines
 * (an editor's, or `echo`'s) removed, nothing else.
 */
export function readSecretFile(path: string, setting: string): string {
  const value = readSettingFile(path, setting).replace(/[\r\n]+$/, '');
  if (value === '') throw new UsageError(`${setting}: ${path} is empty`);
  return value;
}

export interface CertificateFile {
  /** Where it was read from, for messages. */
  readonly path: string;
  /** One or more PEM certificates (a CA bundle). */
  readonly pem: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * A PEM file of CA certificates. Node would accept a key or a DER file silently and only
 * fail the handshake later as "not trusted": check here that every block is a certificate.
 */
export function readCertificateFile(path: string, setting: string): CertificateFile {
  const pem = readSettingFile(path, setting);
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new UsageError(`${setting}: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new UsageError(`${setting}: certificate ${index + 1} in ${path} is not a valid X.509 certificate`);
    }
  });
  return Object.freeze({ path, pem });
}
