/**
 * What most test files run against: a database copied from the golden fixture and a
 * redis-server of their own, made before their tests, Redis emptied before each test, both
 * removed after.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { RedisServer, type TestRedisClient } from './redis-server.js';
import { databaseFromTemplate, goldenTemplate, type TestDatabase } from './services.js';

export interface GoldenServices {
  readonly database: TestDatabase;
  readonly server: RedisServer;
  readonly redis: TestRedisClient;
  /** DATABASE_URL and REDIS_URL for the CLI. */
  readonly env: Readonly<Record<string, string>>;
}

/** Registers the file's hooks; the fields are set once its `beforeAll` has run. */
export function useGoldenServices(label: string): GoldenServices {
  const services = {} as { -readonly [K in keyof GoldenServices]: GoldenServices[K] };
  beforeAll(async () => {
    services.database = await databaseFromTemplate(goldenTemplate(), label);
    services.server = await RedisServer.start();
    services.redis = await services.server.client();
    services.env = { DATABASE_URL: services.database.url, REDIS_URL: services.server.url() };
  });
  afterAll(async () => {
    await services.redis?.close();
    await services.server?.stop();
    await services.database?.drop();
  });
  beforeEach(async () => {
    await services.redis.flushdb();
  });
  return services;
}
