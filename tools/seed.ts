/**
 * Fills a PostgreSQL database with deterministic Trends.Earth-like data.
 *
 *   node --import tsx tools/seed.ts [--database-url URL] [--users N] [--scripts N] [--executions N]
 *                                   [--now ISO] [--seed N] [--create]
 *
 * Prints a one-line JSON summary on stdout. Bad flags: one line on stderr, exit 2. Failures: exit 1.
 */

import { parseArgs } from 'node:util';
import {
  createDatabase,
  databaseName,
  DEFAULT_DATABASE_URL,
  DEFAULT_SEED,
  seedDatabase,
  withDatabase,
} from './seed-lib.js';

const USAGE =
  'usage: seed [--database-url URL] [--users N] [--scripts N] [--executions N] [--now ISO] [--seed N] [--create]';

class UsageError extends Error {}

const RESERVED_DATABASES = new Set(['postgres', 'template0', 'template1']);

interface CliOptions {
  databaseUrl: string;
  users: number;
  scripts: number;
  executions: number;
  now: Date;
  seed: number;
  create: boolean;
}

function count(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${flag} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function parseCli(argv: string[]): CliOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'database-url': { type: 'string' },
        users: { type: 'string' },
        scripts: { type: 'string' },
        executions: { type: 'string' },
        now: { type: 'string' },
        seed: { type: 'string' },
        create: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';

  const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  try {
    const url = new URL(databaseUrl);
    if (!/^postgres(ql)?:$/.test(url.protocol)) throw new Error('not a postgres URL');
  } catch {
    throw new UsageError(`--database-url must be a postgres:// URL, got ${JSON.stringify(databaseUrl)}`);
  }

  let now = new Date();
  if (values.now !== undefined) {
    now = new Date(values.now);
    if (Number.isNaN(now.getTime())) throw new UsageError(`--now must be an ISO date-time, got ${JSON.stringify(values.now)}`);
  }

  let seed = DEFAULT_SEED;
  if (values.seed !== undefined) {
    if (!/^-?\d+$/.test(values.seed) || !Number.isSafeInteger(Number(values.seed))) {
      throw new UsageError(`--seed must be an integer, got ${JSON.stringify(values.seed)}`);
    }
    seed = Number(values.seed);
  }

  const create = values.create ?? false;
  const name = databaseName(databaseUrl);
  if (create && !name) throw new UsageError('--create needs a database name in --database-url');
  if (RESERVED_DATABASES.has(name)) throw new UsageError(`refusing to seed the ${name} database; name another one`);

  return {
    databaseUrl,
    users: count('users', values.users, 1000),
    scripts: count('scripts', values.scripts, 60),
    executions: count('executions', values.executions, 20000),
    now,
    seed,
    create,
  };
}

async function main(argv: string[]): Promise<number> {
  let options: CliOptions | 'help';
  try {
    options = parseCli(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`seed: ${error.message.split('\n')[0]}\n`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const name = databaseName(options.databaseUrl);
  const databaseUrl = options.databaseUrl;
  if (options.create) {
    await createDatabase(withDatabase(databaseUrl, 'postgres'), name);
  }
  const result = await seedDatabase({
    databaseUrl,
    users: options.users,
    scripts: options.scripts,
    executions: options.executions,
    now: options.now,
    seed: options.seed,
  });
  process.stdout.write(
    `${JSON.stringify({
      database: name,
      created: options.create,
      seed: options.seed,
      now: options.now.toISOString(),
      ...result,
    })}\n`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`seed: ${message.split('\n')[0]}\n`);
    process.exitCode = 1;
  },
);
