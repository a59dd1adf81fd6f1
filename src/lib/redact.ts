/**
 * Scrubbing secrets out of anything that leaves the process: every part of a URL that can
 * carry a credential (the userinfo's password, query parameters such as `password`), and
 * known tokens. The one function every output goes through.
 */

// Greedy up to the last `@` of the authority, as URL parsers read it: a raw `@` may sit in the user or password.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;

/**
 * Query parameters that carry a credential or name one: ioredis reads `password` (and every
 * other parameter) from a Redis URL, libpq `password`, `sslpassword` and `sslkey`; the rest
 * are the usual names of tokens.
 */
export const CREDENTIAL_PARAMETERS: readonly string[] = [
  'password',
  'passwd',
  'pass',
  'pwd',
  'sslpassword',
  'sslkey',
  'token',
  'access_token',
  'auth',
  'secret',
  'apikey',
  'api_key',
];

// A parameter's value runs to the next separator, quote or white space (text around a URL stays).
const QUERY_CREDENTIAL = new RegExp(`([?&;](?:${CREDENTIAL_PARAMETERS.join('|')})=)[^&#\\s"'<>]*`, 'gi');

function hidePassword(scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  return colon < 0 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
}

/** Replaces every given secret, and every credential of every URL in `text`, with `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join('***');
  }
  return result
    .replace(URL_USERINFO, (_match, scheme: string, userinfo: string) => hidePassword(scheme, userinfo))
    .replace(QUERY_CREDENTIAL, '$1***');
}

/** A URL safe to print: its credentials replaced. Unparseable text is not echoed at all. */
export function safeUrl(url: string): string {
  try {
    new URL(url);
  } catch {
    return '(unparseable URL)';
  }
  return redact(url);
}

/** The credentials a URL holds (password, credential query parameters), raw and decoded, to scrub wherever they appear. */
export function credentialsOf(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  const raw = [
    parsed.password,
    ...[...parsed.searchParams].filter(([name]) => CREDENTIAL_PARAMETERS.includes(name.toLowerCase())).map(([, value]) => value),
    ...[...url.matchAll(QUERY_CREDENTIAL)].map((match) => match[0].slice(match[1]!.length)),
  ];
  const decoded = raw.map((value) => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  });
  return [...new Set([...raw, ...decoded])].filter(Boolean);
}
