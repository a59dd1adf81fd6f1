/**
 * Checks an API version before it is deployed: runs the API's own StatsService (from an API
 * checkout, with its Python environment) on the golden fixture at its instant, computes the
 * same keys with stats-refresh, and compares every key with the drift check's comparison.
 *
 *   node --import tsx tools/check-api-version.ts --api <API checkout> [--python "<command>"]
 *        [--admin-url postgres://postgres@127.0.0.1:5432/postgres] [--keep]
 *
 * --python is the API's interpreter, as a command (default python3), e.g.
 * "poetry -C ~/src/trends.earth-API run python". Exit 0 when every key is equal; 1 when some
 * key differs (the report says where); 2 on usage. See docs/drift.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDb } from '../src/io/db.js';
import { createLogger } from '../src/io/logger.js';
import { noReporter } from '../src/io/reporter.js';
import { parsePostgresTls } from '../src/io/tls.js';
import { parseJsonTree } from '../src/lib/json-tree.js';
import { API_COMMIT } from '../src/lib/version.js';
import { parseBatchFile } from '../src/requests/batch-file.js';
import { requestsFor, type StatsRequest } from '../src/requests/batches.js';
import { readApiKey } from '../src/requests/key-parser.js';
import { METHODS } from '../src/requests/keys.js';
import { runRefresh } from '../src/run/refresh-run.js';
import { shapeDifferences, universesOf, valueDifferences } from '../src/stats/payload-diff.js';
import { createDatabase, dropDatabase, withDatabase } from './seed-lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = path.join(ROOT, 'test/fixtures/golden');
/** The instant the golden entries were computed at (test/fixtures/golden/README.md). */
const GOLDEN_NOW = '2026-06-15T12:34:56Z';

interface ApiRequest {
  readonly key: string;
  readonly method: string;
  readonly kwargs: Record<string, unknown>;
}

/** The StatsService call that gives a cache key. */
function apiRequestOf(key: string): ApiRequest {
  const read = readApiKey(key);
  if (read?.kind === 'section' && read.period) return { key, method: METHODS[read.section], kwargs: { period: read.period } };
  if (read?.kind !== 'payload' || !read.config) throw new Error(`${key} does not read as a request`);
  const config = read.config;
  switch (config.family) {
    case 'dashboard':
      return { key, method: METHODS.dashboard, kwargs: { period: config.period, include: [...config.include] } };
    case 'executions':
      return { key, method: METHODS.executions, kwargs: { period: config.period, group_by: config.groupBy, task_type: config.taskType, status: config.status } };
    case 'users':
      return { key, method: METHODS.users, kwargs: { period: config.period, group_by: config.groupBy, country: config.country } };
  }
}

/** Every key of the golden fixture, with what the API stored for it when it was recorded. */
function goldenEntries(): Map<string, string> {
  const entries = new Map<string, string>();
  for (const file of ['expected.json', 'requests-expected.json']) {
    const recorded = JSON.parse(readFileSync(path.join(FIXTURE, file), 'utf8')) as Record<string, { raw: string }>;
    for (const [key, { raw }] of Object.entries(recorded)) entries.set(key, raw);
  }
  return entries;
}

/** Runs the API's StatsService for `requests`, as of GOLDEN_NOW; returns each key's JSON text. */
function runApi(python: string, api: string, databaseUrl: string, requests: readonly ApiRequest[], work: string): Map<string, string> {
  const requestsFile = path.join(work, 'requests.json');
  const out = path.join(work, 'api.json');
  writeFileSync(requestsFile, JSON.stringify(requests));
  const [command, ...prefix] = python.trim().split(/\s+/);
  const driver = path.join(ROOT, 'tools/api-golden.py');
  const result = spawnSync(command!, [...prefix, driver, '--api', api, '--requests', requestsFile, '--now', GOLDEN_NOW, '--out', out], {
    // Nothing listens on port 1: the API's own Redis client, if it makes one, finds no cache.
    env: { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: 'redis://127.0.0.1:1/0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.error) throw new Error(`cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`the API's StatsService failed (exit ${result.status}); see its output above`);
  return new Map(Object.entries(JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>));
}

/** What stats-refresh writes for the same keys, computed in-process on the same database. */
async function runOurs(databaseUrl: string): Promise<{ payloads: ReadonlyMap<string, string>; slugs: string[] }> {
  const { db, pool } = createDb({ url: databaseUrl, tls: parsePostgresTls(databaseUrl, 'the check'), applicationName: 'stats-refresh-check', poolSize: 2 });
  try {
    const requests = parseBatchFile(readFileSync(path.join(FIXTURE, 'requests.txt'), 'utf8'), 'requests.txt').flatMap(({ target }) =>
      target.kind === 'request' ? [target.request] : [],
    );
    const computed: StatsRequest[] = [...requestsFor(['dashboard', 'executions', 'users']), ...requests];
    const run = await runRefresh(
      { command: 'check-api-version', requests: computed.map((request) => ({ request, origin: 'batch' })), families: [], now: new Date(GOLDEN_NOW), ttlSeconds: 300, concurrency: 2, dryRun: true },
      { db, pool, cache: null, logger: createLogger('warn'), reporter: noReporter, secrets: [] },
    );
    const failed = run.results.filter((result) => result.error !== null);
    if (failed.length > 0) throw new Error(`stats-refresh could not compute ${failed[0]!.label}: ${failed[0]!.error!.message}`);
    const { rows } = await pool.query<{ slug: string }>('SELECT slug FROM script');
    return { payloads: run.payloads!, slugs: rows.map((row) => row.slug) };
  } finally {
    await db.destroy();
  }
}

type Verdict = 'identical' | 'equal' | 'differs';

function compareKey(api: string, ours: string | undefined, slugs: readonly string[]): { verdict: Verdict; details: string[] } {
  if (ours === undefined) return { verdict: 'differs', details: ['stats-refresh wrote no such key'] };
  if (api === ours) return { verdict: 'identical', details: [] };
  const [theirs, own] = [parseJsonTree(api), parseJsonTree(ours)];
  const differences = [...shapeDifferences(theirs, own, universesOf(slugs)), ...valueDifferences(theirs, own, 10)];
  if (differences.length === 0) return { verdict: 'equal', details: ['equal but for the order of a dict the API takes from PostgreSQL'] };
  return { verdict: 'differs', details: differences.map((difference) => `${difference.kind} ${difference.path}: ${difference.detail}`) };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      api: { type: 'string' },
      python: { type: 'string', default: 'python3' },
      'admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
      keep: { type: 'boolean', default: false },
    },
  });
  if (!values.api) {
    process.stderr.write('usage: node --import tsx tools/check-api-version.ts --api <API checkout> [--python "<command>"] [--admin-url URL] [--keep]\n');
    return 2;
  }
  const golden = goldenEntries();
  const name = `stats_refresh_apicheck_${process.pid}`;
  const databaseUrl = await createDatabase(values['admin-url']!, name);
  const work = mkdtempSync(path.join(tmpdir(), 'stats-refresh-apicheck-'));
  try {
    const loader = new pg.Client({ connectionString: databaseUrl });
    await loader.connect();
    await loader.query(readFileSync(path.join(FIXTURE, 'database.sql'), 'utf8')).finally(() => loader.end());
    const api = runApi(values.python!, path.resolve(values.api), databaseUrl, [...golden.keys()].map(apiRequestOf), work);
    const ours = await runOurs(databaseUrl);
    const counts: Record<Verdict, number> = { identical: 0, equal: 0, differs: 0 };
    process.stdout.write(`The API at ${values.api}, on the golden fixture as of ${GOLDEN_NOW}, against stats-refresh (follows ${API_COMMIT}):\n`);
    for (const key of [...golden.keys()].sort()) {
      const { verdict, details } = compareKey(api.get(key) ?? 'null', ours.payloads.get(key), ours.slugs);
      counts[verdict] += 1;
      if (verdict === 'identical') continue;
      process.stdout.write(`\n${verdict.toUpperCase()} ${key}\n${details.map((detail) => `  ${detail}`).join('\n')}\n`);
      if (api.get(key) !== golden.get(key)) process.stdout.write('  (the API\'s value also differs from the golden entry recorded for it)\n');
    }
    process.stdout.write(`\n${golden.size} keys: ${counts.identical} identical, ${counts.equal} equal, ${counts.differs} different\n`);
    return counts.differs > 0 ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (!values.keep) await dropDatabase(values['admin-url']!, name);
    else process.stderr.write(`kept database ${withDatabase(values['admin-url']!, name)}\n`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`check-api-version: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
