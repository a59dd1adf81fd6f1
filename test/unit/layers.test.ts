/**
 * The layout's one rule: a module imports only from its own folder or from folders below
 * it (../shared/STYLE.md): cli → commands → schedule → run → state → stats → pass → io → requests
 * → lib. Checked on every import of src/, static or dynamic, types included.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const LAYERS = ['cli', 'commands', 'schedule', 'run', 'state', 'stats', 'pass', 'io', 'requests', 'lib'] as const;
/** Files at the top of src/ and the layer they belong to. */
const TOP_FILES: Readonly<Record<string, (typeof LAYERS)[number]>> = {
  'cli.ts': 'cli',
  // The configuration is read by the commands and the run, and reads io, requests and lib.
  'config.ts': 'run',
};

function layerOf(file: string): number {
  const relative = path.relative(SRC, file).split(path.sep);
  const layer = relative.length === 1 ? TOP_FILES[relative[0]!] : relative[0];
  const rank = LAYERS.indexOf(layer as (typeof LAYERS)[number]);
  if (rank < 0) throw new Error(`${path.relative(SRC, file)} is in no layer: add its folder to LAYERS`);
  return rank;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(path.join(folder, entry.name)) : entry.name.endsWith('.ts') ? [path.join(folder, entry.name)] : [],
  );
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((match) => path.resolve(path.dirname(file), (match[1] ?? match[2])!.replace(/\.js$/, '.ts')));
}

describe('layers', () => {
  const files = sourceFiles(SRC);

  it('finds the source files and their imports', () => {
    expect(files.length).toBeGreaterThan(40);
    expect(importsOf(path.join(SRC, 'cli.ts')).length).toBeGreaterThan(3);
  });

  it.each(files.map((file) => [path.relative(SRC, file), file]))('%s imports nothing from a layer above it', (_, file) => {
    const upward = importsOf(file)
      .filter((target) => layerOf(target) < layerOf(file))
      .map((target) => path.relative(SRC, target));
    expect(upward).toEqual([]);
  });

  it('would catch an upward import', () => {
    expect(layerOf(path.join(SRC, 'lib/redact.ts'))).toBeGreaterThan(layerOf(path.join(SRC, 'commands/status.ts')));
    expect(layerOf(path.join(SRC, 'pass/load.ts'))).toBeGreaterThan(layerOf(path.join(SRC, 'stats/sections.ts')));
  });
});
