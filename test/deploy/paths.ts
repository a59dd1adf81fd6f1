/**
 * Where the deploy tests find the project, and the one fact of the Dockerfile they compare
 * the deployments with offline: its final USER. The image itself is built and checked by a
 * real engine (test/container/, scripts/container-check.sh).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The last USER instruction's argument, e.g. `1000:1000`. */
export function dockerfileUser(root = PROJECT_ROOT): string {
  const users = [...readFileSync(`${root}/Dockerfile`, 'utf8').matchAll(/^USER\s+(\S+)\s*$/gm)];
  const user = users.at(-1)?.[1];
  if (!user) throw new Error('the Dockerfile has no USER');
  return user;
}
