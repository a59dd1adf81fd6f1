/**
 * src/io/redis-client.ts: Redis failures in the operator's words, naming the key concerned,
 * with the library's error kept as the cause (the retries read it).
 */
import { describe, expect, it } from 'vitest';
import { isTransient } from '../../src/lib/retry.js';
import { RedisSilentError, redisFailure } from '../../src/io/redis-client.js';

describe('redisFailure', () => {
  it('says what a refusal means and what to do', () => {
    expect(redisFailure(new Error('READONLY You can\'t write against a read only replica.')).message).toBe(
      'Redis refuses writes: it is a read-only replica; point REDIS_URL at the primary',
    );
    expect(redisFailure(new Error('OOM command not allowed when used memory > \'maxmemory\'.')).message).toMatch(/^Redis refuses writes: it is out of memory/);
    expect(redisFailure(new Error('MISCONF Redis is configured to save RDB snapshots')).message).toMatch(/^Redis refuses writes: it cannot save its data to disk/);
    expect(redisFailure(new Error('LOADING Redis is loading the dataset in memory')).message).toBe('Redis is loading its data from disk; it answers once loaded');
    expect(redisFailure(new Error('Command timed out')).message).toBe('Redis did not answer within 10 s');
    expect(redisFailure(new Error("Stream isn't writeable and enableOfflineQueue options is false")).message).toBe('the connection to Redis was lost');
  });

  it('names the key concerned, once', () => {
    expect(redisFailure(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), 'stats_refresh:keys').message).toBe(
      'stats_refresh:keys holds another kind of value than expected (WRONGTYPE); delete it (DEL stats_refresh:keys): the next run writes it again',
    );
    expect(redisFailure(new Error('READONLY replica'), 'k').message).toBe('k: Redis refuses writes: it is a read-only replica; point REDIS_URL at the primary');
    expect(redisFailure(new Error('ERR something new'), 'k').message).toBe('k: ERR something new');
  });

  it('keeps the library error as its cause, so a transient one is still retried', () => {
    const lost = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    const failure = redisFailure(lost);
    expect(failure.cause).toBe(lost);
    expect(isTransient(failure)).toBe(isTransient(lost));
  });

  it('passes a silent server through as it is, and reads anything thrown', () => {
    const silent = new RedisSilentError(10_000);
    expect(redisFailure(silent)).toBe(silent);
    expect(silent.message).toBe('Redis did not answer within 10 s');
    expect(redisFailure('plain text').message).toBe('plain text');
  });
});
