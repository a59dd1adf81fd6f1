// Bundles the CLI into dist/: one ES module for the command line, plus a chunk for Rollbar,
// which is loaded only when a token is set. Node.js then reads one file at start-up instead
// of resolving hundreds of modules. Types are checked separately (tsc --noEmit).
import { readFile, rm } from 'node:fs/promises';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url);
const { version } = JSON.parse(await readFile(new URL('package.json', root), 'utf8'));
await rm(new URL('dist', root), { recursive: true, force: true });

// node-postgres picks its socket at import time by sniffing for Cloudflare Workers; on Node.js 20
// (no `navigator`) the sniff builds a fetch Response, which loads undici: about 30 ms of every
// start. The bundle only ever runs on Node.js, so its stream module is Node's two functions.
const nodeOnlyPgStream = {
  name: 'node-only-pg-stream',
  setup(build) {
    build.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, () => ({
      contents: `module.exports = {
  getStream: () => new (require('net').Socket)(),
  getSecureStream: (options) => require('tls').connect(options),
};`,
      loader: 'js',
    }));
  },
};

await build({
  absWorkingDir: root.pathname,
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // Minified: V8 parses the whole file at start-up. No stack trace is ever printed, so no source map.
  minify: true,
  legalComments: 'linked',
  define: { STATS_REFRESH_VERSION: JSON.stringify(version) },
  // Bundled CommonJS dependencies call require() for Node's built-ins; give ESM one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  // node-postgres loads its native binding only if asked for; we never ask.
  external: ['pg-native'],
  chunkNames: 'chunks/[name]-[hash]',
  plugins: [nodeOnlyPgStream],
  logLevel: 'warning',
});
