/**
 * End-to-end demo: (re)creates and seeds the demo database, then runs the built CLI
 * (`node dist/cli.js refresh all`) against it and exits with its exit code.
 *
 *   npm run demo        (builds first; REDIS_URL is passed through to the CLI)
 *
 * The database URL comes from DEMO_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/stats_refresh_demo).
 */

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createDatabase, databaseName, DEFAULT_DATABASE_URL, seedDatabase, withDatabase } from './seed-lib.js';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

async function main(): Promise<number> {
  const demoUrl = process.env.DEMO_DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const name = databaseName(demoUrl);
  if (!name) throw new Error('DEMO_DATABASE_URL has no database name');
  if (!existsSync(CLI)) throw new Error(`${CLI} not found; run "npm run build" first`);

  const now = new Date();
  const databaseUrl = await createDatabase(withDatabase(demoUrl, 'postgres'), name);
  const seeded = await seedDatabase({ databaseUrl, users: 2000, scripts: 60, executions: 50_000, now });
  process.stderr.write(`demo: seeded ${name} ${JSON.stringify(seeded)}\n`);

  const child = spawn(process.execPath, [CLI, 'refresh', 'all'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: 'inherit',
  });
  return new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal) process.stderr.write(`demo: stats-refresh killed by ${signal}\n`);
      resolve(code ?? 1);
    });
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`demo: ${message.split('\n')[0]}\n`);
    process.exitCode = 1;
  },
);
