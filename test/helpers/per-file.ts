/**
 * Runs in every test file's worker (vitest's setupFiles): what a file must not leave behind,
 * whatever its own afterAll does.
 */
import { afterAll } from 'vitest';
import { stopEveryRedisServer } from './redis-server.js';

afterAll(stopEveryRedisServer);
