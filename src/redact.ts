/**
 * Scrubbing secrets out of anything that leaves the process: passwords in connection
 * URLs and known tokens.
 */

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]*):([^\s@/]*)@/gi;

/** Replaces the password of every URL in `text`, and every given secret, with `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let result = text.replace(URL_CREDENTIALS, (_match, scheme: string, user: string) => `${scheme}${user}:***@`);
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join('***');
  }
  return result;
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
