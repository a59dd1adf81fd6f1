/**
 * Every repository path named in a comment (src/, test/, tools/, bench/, scripts/, .ci/) or in
 * a doc (README.md, docs/*.md) exists. A path is one that starts at a top-level folder of the
 * repository (`src/run/targets.ts`, `docs/keys.md`, `k8s/base`); a glob (`test/e2e/*.test.ts`)
 * must match a file. URLs and placeholders (`src/<module>.ts`) are not paths, and neither is
 * dist/ (built, absent from a fresh checkout).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The top-level folders a named path may start with. */
const ROOTS = ['src', 'test', 'tools', 'bench', 'scripts', 'docs', 'k8s', 'deploy', '.ci'];

/**
 * A top-level folder and at least one name under it, not preceded by a path or word character
 * (which would make it the tail of a URL, of `~/src/...` or of `/opt/.../dist`).
 */
const PATH = new RegExp(`(?<![\\w./~-])(?:${ROOTS.map((root) => root.replace('.', '\\.')).join('|')})(?:/[\\w.@*-]+)+`, 'g');

/** What follows a placeholder's fixed part: `src/<module>.ts`, `docs/{a,b}.md`, `test/${name}`. */
const PLACEHOLDER_AFTER = /^\/?[{<[$]/;

/** The repository paths named in `text`, sentence punctuation trimmed. */
export function namedPaths(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(PATH)) {
    if (PLACEHOLDER_AFTER.test(text.slice(match.index + match[0].length))) continue;
    found.push(match[0].replace(/[.,:;/]+$/, ''));
  }
  return found;
}

/** The comments of a source file: block and line comments (TS, JS), `#` lines (shell, Python). */
function commentsOf(file: string, text: string): string {
  if (/\.(?:ts|mjs|js)$/.test(file)) {
    // A `//` inside a string (a URL) is taken for a comment too: harmless, URLs are no paths.
    return (text.match(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g) ?? []).join('\n');
  }
  return (text.match(/(?:^|\s)#[^\n]*/g) ?? []).join('\n');
}

function filesUnder(folder: string): string[] {
  return readdirSync(path.join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));
}

const SOURCES = ['src', 'test', 'tools', 'bench', 'scripts', '.ci']
  .flatMap(filesUnder)
  .filter((file) => !file.startsWith(path.join('test', 'fixtures')) && /\.(?:ts|mjs|js|sh|py)$|^\.ci\/run$|^scripts\/podman$/.test(file));
const DOCS = ['README.md', ...filesUnder('docs').filter((file) => file.endsWith('.md'))];
const REPOSITORY_FILES = ROOTS.filter((root) => existsSync(path.join(ROOT, root))).flatMap(filesUnder);

/** Whether a named path exists; a glob (`*` within a name) must match at least one file. */
function exists(named: string): boolean {
  if (!named.includes('*')) return existsSync(path.join(ROOT, named));
  const pattern = new RegExp(`^${named.replace(/[.+?^()|\\]/g, '\\$&').replaceAll('*', '[^/]*')}(?:/|$)`);
  return REPOSITORY_FILES.some((file) => pattern.test(file.split(path.sep).join('/')));
}

/** The text of `file` in which named paths are checked: a doc whole, a source file's comments. */
function checkedText(file: string): string {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  return DOCS.includes(file) ? text : commentsOf(file, text);
}

describe('paths named in comments and docs', () => {
  it('finds paths and globs, and leaves URLs, placeholders and the tails of other paths alone', () => {
    const text = [
      '// see src/pass/plan.ts and [the keys](docs/keys.md#covered), then test/helpers/.',
      '/* k8s/base, deploy/compose: done. */ test/e2e/*-tls.test.ts',
      'https://github.com/owner/repo/blob/main/src/x.ts ~/src/api /opt/stats-refresh/dist/cli.js',
      'test/unit/<module>.test.ts docs/{a,b}.md dist/cli.js',
    ].join('\n');
    expect(namedPaths(text)).toEqual(['src/pass/plan.ts', 'docs/keys.md', 'test/helpers', 'k8s/base', 'deploy/compose', 'test/e2e/*-tls.test.ts']);
  });

  it('knows a path or glob that is gone', () => {
    expect(['src/stats/needs.ts', 'test/nowhere/*.test.ts', 'docs/keys.md', 'test/e2e/*-tls.test.ts', 'k8s/base'].filter(exists)).toEqual([
      'docs/keys.md',
      'test/e2e/*-tls.test.ts',
      'k8s/base',
    ]);
  });

  it('reads the sources and the docs', () => {
    expect(SOURCES).toContain(path.join('src', 'cli.ts'));
    expect(SOURCES).toContain('.ci/run');
    expect(DOCS).toContain(path.join('docs', 'architecture.md'));
    expect(namedPaths(checkedText('README.md')).length).toBeGreaterThan(5);
  });

  it.each([...DOCS, ...SOURCES])('%s names only paths that exist', (file) => {
    const missing = namedPaths(checkedText(file)).filter((named) => !exists(named));
    expect(missing).toEqual([]);
  });
});
