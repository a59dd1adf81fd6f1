/**
 * Redis stalled or restarted under a long-running process, in-process on a redis-server of
 * this file's own: a lock attempt that timed out must not lock the process out of its own
 * families when Redis resumes, a lock is renewed no longer than its run may last, and
 * invalidation messages come back after a restart without a false "periodic checks only".
 */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RedisClient, createRedis, dropConnection } from '../../src/io/redis-client.js';
import { lockKey, tryLock } from '../../src/io/lock.js';
import { watchInvalidations } from '../../src/schedule/watch.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { eventually } from '../helpers/schedule.js';

let server: RedisServer;
let admin: TestRedisClient;
let client: RedisClient;

beforeAll(async () => {
  server = await RedisServer.start();
  admin = await server.client();
});

afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

beforeEach(async () => {
  if (client) dropConnection(client);
  server.resume();
  await eventually('Redis answers', async () => (await admin.ping().catch(() => null)) === 'PONG');
  await admin.flushdb();
  client = createRedis(server.url(), { longRunning: true });
  await client.connect();
});

describe('a family lock after a Redis stall', () => {
  it('an attempt that timed out while Redis was stopped is recognised as ours once it resumes', async () => {
    server.pause();
    // The SET NX reaches the stopped server's socket and times out here.
    await expect(tryLock(client, 'dashboard', 60_000)).rejects.toThrow(/timed out|did not answer/);
    server.resume();
    // Redis runs the SET it had read when it resumes: the key holds the token of that attempt.
    await eventually('the stalled attempt ran', async () => (await admin.exists(lockKey('dashboard'))) === 1);
    // The client reconnects on its own; an attempt while it does fails, as a scheduled run's would, and the next goes on.
    let lock: Awaited<ReturnType<typeof tryLock>> | undefined;
    await eventually('an attempt answered', async () => (lock = await tryLock(client, 'dashboard', 60_000).catch(() => undefined)) !== undefined, 30_000);
    expect(lock, 'the family was skipped: our own stalled token held its lock').not.toBeNull();
    await lock!.release();
    expect(await admin.exists(lockKey('dashboard'))).toBe(0);
  }, 60_000);

  it("another process's lock is still another's", async () => {
    await admin.set(lockKey('users'), 'someone-else', 'PX', 60_000);
    expect(await tryLock(client, 'users', 60_000)).toBeNull();
    expect(await admin.get(lockKey('users'))).toBe('someone-else');
  });

  it('a lock is renewed no longer than its run may last, then lapses', async () => {
    const lock = await tryLock(client, 'executions', 600, { maxHoldMs: 400 });
    expect(lock).not.toBeNull();
    // Renewed every 200 ms without the bound: the key would never lapse while the run is stuck.
    await eventually('the lock lapsed', async () => (await admin.exists(lockKey('executions'))) === 0, 10_000);
    await lock!.release();
  });
});

describe('invalidation messages after a Redis restart', () => {
  it('come back, and the log never says "periodic checks only"', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    let changes = 0;
    const watch = watchInvalidations(client, () => void (changes += 1), logger);
    try {
      for (let restart = 0; restart <= 3; restart++) {
        if (restart > 0) {
          await server.restart();
          // The test's own client does not reconnect: a new one.
          admin.disconnect();
          admin = await server.client();
        }
        await eventually(`tracking on (restart ${restart})`, () => lines.filter((line) => String(line.msg).startsWith('invalidation messages')).length > restart, 20_000);
        await eventually(`a delete heard (restart ${restart})`, async () => {
          const before = changes;
          await admin.set('stats_service:probe', '1').catch(() => undefined);
          await admin.del('stats_service:probe').catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 100));
          return changes > before;
        }, 20_000);
      }
      // The subscriber alone dropped (the main connection stays): tracking moves to its new ID.
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await eventually('a delete heard after the subscriber came back', async () => {
        const before = changes;
        await admin.set('stats_service:probe', '1');
        await admin.del('stats_service:probe');
        await new Promise((resolve) => setTimeout(resolve, 100));
        return changes > before;
      }, 20_000);
      expect(lines.filter((line) => line.msg === 'no invalidation messages from Redis: periodic checks only')).toEqual([]);
    } finally {
      watch.close();
    }
  }, 60_000);
});
