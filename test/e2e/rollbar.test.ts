/**
 * Failure reports with the real `rollbar` client, sent to a local endpoint: one item per
 * failed config, delivered before the process exits, and nothing secret in them (no
 * database password, the token only where it authenticates, no user email).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, summaryOf } from '../helpers/cli.js';
import { CONFIGS_ON_USER_TABLE, GOLDEN_EMAILS, GOLDEN_EXPECTED } from '../helpers/golden.js';
import {
  GOLDEN_NOW,
  goldenTemplate,
  databaseFromTemplate,
  type TestDatabase,
} from '../helpers/services.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';

const PASSWORD = 'hunter2secret';
const TOKEN = 'tok_0123456789abcdef';
const QUERY_SECRET = 'qsecret9876';
const TOKEN_HEADER = 'x-rollbar-access-token';
/** How long the endpoint takes to answer each item. */
const RESPONSE_DELAY_MS = 500;

const EMAIL_LIKE = /[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:org|com|edu|net|example)\b/i;


interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly receivedAt: number;
  /** When the whole response was handed to the socket; null if it never was. */
  respondedAt: number | null;
  /** The client closed the connection before the response was complete. */
  abandoned: boolean;
}

/** A local Rollbar API: records every request and answers like Rollbar, after a delay (or never). */
class FakeRollbar {
  readonly requests: ReceivedRequest[] = [];
  answer: 'after-delay' | 'never' = 'after-delay';
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private readonly held = new Set<http.ServerResponse>();

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/1/`;
  }

  reset(): void {
    this.requests.length = 0;
    this.answer = 'after-delay';
    for (const res of this.held) res.destroy();
    this.held.clear();
  }

  async stop(): Promise<void> {
    this.reset();
    this.server.closeAllConnections();
    this.server.close();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
        respondedAt: null,
        abandoned: false,
      };
      this.requests.push(request);
      res.on('finish', () => (request.respondedAt = Date.now()));
      res.on('close', () => {
        if (!res.writableFinished) request.abandoned = true;
      });
      if (this.answer === 'never') {
        this.held.add(res);
        return;
      }
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ err: 0, result: { id: null, uuid: randomUUID() } }));
      }, RESPONSE_DELAY_MS);
    });
  }
}

interface TimedRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** When the test process saw the child exit; null if it had to be killed. */
  readonly exitedAt: number | null;
}

/** Runs the built CLI and records when it exits; kills it after `limitMs`. */
function runTimed(args: readonly string[], env: Record<string, string>, limitMs = 30_000): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', TZ: 'UTC', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let exitedAt: number | null = null;
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', () => (exitedAt = Date.now()));
    const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, exitedAt: signal === 'SIGKILL' ? null : exitedAt });
    });
  });
}

interface RollbarItem {
  data: {
    environment: string;
    level: string;
    custom?: Record<string, string>;
    body: { message?: { body: string } };
  };
}

function itemOf(request: ReceivedRequest): RollbarItem {
  return JSON.parse(request.body) as RollbarItem;
}

/**
 * Everything the request carried except the credential itself: the access-token header and,
 * if the client puts it there too, the body's `access_token`. Both must hold the token.
 */
function withoutCredential(request: ReceivedRequest): string {
  expect(request.headers[TOKEN_HEADER]).toBe(TOKEN);
  const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== TOKEN_HEADER));
  const body = JSON.parse(request.body) as Record<string, unknown>;
  if ('access_token' in body) {
    expect(body.access_token).toBe(TOKEN);
    delete body.access_token;
  }
  return JSON.stringify({ method: request.method, url: request.url, headers, body });
}

const rollbar = new FakeRollbar();
let endpoint: string;
let server: RedisServer;
let redis: TestRedisClient;
let broken: TestDatabase;
let intact: TestDatabase;

function passwordUrl(database: TestDatabase): string {
  const url = new URL(database.url);
  url.username = 'postgres';
  url.password = PASSWORD;
  return url.toString();
}

function rollbarEnv(database: TestDatabase): Record<string, string> {
  return {
    DATABASE_URL: passwordUrl(database),
    REDIS_URL: server.url(),
    ROLLBAR_ACCESS_TOKEN: TOKEN,
    ROLLBAR_ENDPOINT: endpoint,
    ROLLBAR_ENVIRONMENT: 'stats-refresh-test',
  };
}

beforeAll(async () => {
  endpoint = await rollbar.start();
  server = await RedisServer.start();
  redis = await server.client();
  broken = await databaseFromTemplate(goldenTemplate(), 'rollbar_broken');
  await broken.query('ALTER TABLE "user" DROP COLUMN country');
  intact = await databaseFromTemplate(goldenTemplate(), 'rollbar_intact');
});

afterAll(async () => {
  await rollbar.stop();
  await redis?.close();
  await server?.stop();
  await broken?.drop();
  await intact?.drop();
});

describe('16 configs failing, reported to Rollbar', () => {
  let run: TimedRun;
  let requests: ReceivedRequest[];

  beforeAll(async () => {
    rollbar.reset();
    expect(passwordUrl(broken)).toContain(`:${PASSWORD}@`);
    run = await runTimed(['refresh', 'all', '--now', GOLDEN_NOW], rollbarEnv(broken));
    requests = [...rollbar.requests];
  });

  it('exits 1 with the 16 failures in the summary', () => {
    expect(run.code, run.stderr).toBe(1);
    const summary = summaryOf(run);
    expect(summary.failed).toBe(16);
    expect(summary.failures.map((failure) => failure.config).sort()).toEqual(CONFIGS_ON_USER_TABLE);
  });

  it('sends exactly one error item per failed config, naming it', () => {
    expect(requests).toHaveLength(16);
    const configs = requests.map((request) => {
      expect(request.method).toBe('POST');
      const { data } = itemOf(request);
      expect(data).toMatchObject({ level: 'error', environment: 'stats-refresh-test' });
      const config = data.custom?.config ?? '';
      expect(data.body.message?.body, config).toContain(config);
      expect(data.body.message?.body).toMatch(/country/);
      return config;
    });
    expect(configs.sort()).toEqual(CONFIGS_ON_USER_TABLE);
  });

  it('delivers every item, and has it answered, before the process exits', () => {
    expect(run.exitedAt).not.toBeNull();
    for (const request of requests) {
      expect(request.abandoned).toBe(false);
      expect(request.respondedAt).not.toBeNull();
      expect(request.respondedAt! - request.receivedAt).toBeGreaterThanOrEqual(RESPONSE_DELAY_MS - 5);
      expect(request.respondedAt!).toBeLessThanOrEqual(run.exitedAt!);
    }
  });

  it('carries the token only in the header that authenticates the request', () => {
    for (const request of requests) expect(withoutCredential(request)).not.toContain(TOKEN);
  });

  it('carries neither the database password nor any email address', () => {
    expect(GOLDEN_EMAILS.length).toBeGreaterThan(5);
    for (const request of requests) {
      const text = `${request.url}\n${JSON.stringify(request.headers)}\n${request.body}`;
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toMatch(EMAIL_LIKE);
      for (const email of GOLDEN_EMAILS) expect(text).not.toContain(email);
    }
  });

  it('prints neither the password nor the token itself', () => {
    for (const output of [run.stdout, run.stderr]) {
      expect(output).not.toContain(PASSWORD);
      expect(output).not.toContain(TOKEN);
    }
  });
});

describe('no failures', () => {
  it('exits 0 and sends nothing', async () => {
    rollbar.reset();
    const run = await runTimed(['refresh', 'all', '--now', GOLDEN_NOW], rollbarEnv(intact));
    expect(run.code, run.stderr).toBe(0);
    expect(summaryOf(run).failed).toBe(0);
    await sleep(200);
    expect(rollbar.requests).toEqual([]);
  });
});

describe('drift found', () => {
  it('one item names the endpoint and the paths; the configs yielding are reported too, no email in any', async () => {
    rollbar.reset();
    await redis.flushdb();
    // Two keys: one alone is not drift (docs/drift.md, corroboration).
    for (const key of [
      'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=none',
      'stats_service:get_execution_stats:group_by=day_period=last_week_status=none_task_type=none',
    ]) {
      await redis.set(key, GOLDEN_EXPECTED[key]!.raw.replace(/"timestamp": "([^"]+)"/g, '"timestamp": "$1+00:00"'), 'EX', 300);
    }
    const run = await runTimed(['refresh', 'executions', '--now', GOLDEN_NOW], rollbarEnv(intact));
    expect(run.code, run.stderr).toBe(1);
    const messages = rollbar.requests.map((request) => itemOf(request).data.body.message?.body ?? '');
    expect(messages.filter((message) => message.startsWith('stats-refresh: drift on executions: time_series[].timestamp'))).toHaveLength(1);
    expect(messages.filter((message) => /config executions\/.* failed: drift: /.test(message))).toHaveLength(8);
    for (const request of rollbar.requests) for (const email of GOLDEN_EMAILS) expect(request.body).not.toContain(email);
    await redis.flushdb();
  });
});

describe('secrets given as flags', () => {
  it('keep out of the items too', async () => {
    rollbar.reset();
    const { DATABASE_URL, ...env } = rollbarEnv(broken);
    const run = await runTimed(['refresh', 'all', '--now', GOLDEN_NOW, '--database-url', DATABASE_URL!], env);
    expect(run.code, run.stderr).toBe(1);
    expect(rollbar.requests).toHaveLength(16);
    for (const request of rollbar.requests) expect(request.body).not.toContain(PASSWORD);
    expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  });
});

describe('credentials in URL query parameters', () => {
  it('keep out of the items, the logs and the summary, at every level', async () => {
    rollbar.reset();
    // ioredis takes `password` from a Redis URL's query; libpq's (node-postgres's too) `password`.
    const redisUrl = `${server.url()}?password=${QUERY_SECRET}`;
    const databaseUrl = `${broken.url}?password=${QUERY_SECRET}2`;
    const run = await runTimed(['refresh', 'all', '--now', GOLDEN_NOW, '--redis-url', redisUrl, '--log-level', 'trace'], {
      ...rollbarEnv(broken),
      DATABASE_URL: databaseUrl,
    });
    expect(run.code, run.stderr).toBe(1);
    expect(rollbar.requests).toHaveLength(16);
    // The URL is in process.argv, which the client sends with every item.
    for (const request of rollbar.requests) expect(request.body).not.toContain(QUERY_SECRET);
    expect(run.stdout + run.stderr).not.toContain(QUERY_SECRET);
    // ioredis warns that this server needs no password: a log line too, not raw text.
    expect(run.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('{'))).toEqual([]);
  });
});

describe('an endpoint that never answers', () => {
  it('does not keep the run alive', async () => {
    rollbar.reset();
    rollbar.answer = 'never';
    const started = Date.now();
    const run = await runTimed(['refresh', 'all', '--now', GOLDEN_NOW], rollbarEnv(broken), 25_000);
    const elapsed = Date.now() - started;
    rollbar.reset();
    expect(run.exitedAt, `still running after ${elapsed} ms; stderr:\n${run.stderr.slice(-500)}`).not.toBeNull();
    expect(run.code).toBe(1);
    expect(summaryOf(run).failed).toBe(16);
  }, 40_000);
});
