/**
 * Scrubbing secrets out of anything that leaves the process: passwords in connection
 * URLs and known tokens.
 */

// Greedy up to the last `@` of the authority, as URL parsers read it: a raw `@` may sit in the user or password.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;

function hidePassword(scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  return colon < 0 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
}

/** Replaces every given secret, and the password of every URL in `text`, with `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join('***');
  }
  return result.replace(URL_USERINFO, (_match, scheme: string, userinfo: string) => hidePassword(scheme, userinfo));
}

/** A URL safe to print: its password replaced. Unparseable text is not echoed at all. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
