/**
 * What most test files run against: a database copied from the golden fixture and a
 * redis-server of their own, made before their tests, Redis emptied before each test (unless
 * the file's tests read what its `beforeAll` wrote), both removed after.
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

export interface GoldenServicesOptions {
  /** Empty Redis before each test (default true); false when the tests read what `beforeAll` wrote. */
  readonly emptyRedisBeforeEach?: boolean;
}

/**
 * Registers the hooks of the file (or of the `describe` it is called in); the fields are set
 * once its `beforeAll` has run, before any `beforeAll` registered after this call.
 */
export function useGoldenServices(label: string, options: GoldenServicesOptions = {}): GoldenServices {
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
  if (options.emptyRedisBeforeEach ?? true) {
    beforeEach(async () => {
      await services.redis.flushdb();
    });
  }
  return services;
}
