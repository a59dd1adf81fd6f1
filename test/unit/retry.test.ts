/**
 * src/lib/retry.ts: which failures are transient, the backoff's bounds and jitter, and the
 * retry loop (its waits run on vitest's fake clock: nothing here depends on real time).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, DEFAULT_RETRY, isTransient, type RetryPolicy, TRANSIENT_SQLSTATES, withRetry } from '../../src/lib/retry.js';
import { random } from '../helpers/random.js';

const coded = (code: string) => Object.assign(new Error(`failed with ${code}`), { code });
/** `error` wrapped as the cause of `depth` errors. */
const wrapped = (error: Error, depth: number): Error =>
  depth === 0 ? error : new Error(`wrapper ${depth}`, { cause: wrapped(error, depth - 1) });

describe('isTransient', () => {
  it.each([...TRANSIENT_SQLSTATES])('retries SQLSTATE %s', (code) => {
    expect(isTransient(coded(code))).toBe(true);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])('retries the socket error %s', (code) => {
    expect(isTransient(coded(code))).toBe(true);
  });

  it.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'Client has encountered a connection error and is not queryable',
    'timeout exceeded when trying to connect',
    'Connection is closed.',
    "Stream isn't writeable and enableOfflineQueue options is false",
    'Reached the max retries per request limit (which is 20).',
  ])('retries the code-less error "%s"', (message) => {
    expect(isTransient(new Error(message))).toBe(true);
  });

  it.each([
    ['a missing column', coded('42703')],
    ['a statement timeout', coded('57014')],
    ['a permission refused', coded('42501')],
    ['a Redis WRONGTYPE', new Error('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['a plain error', new Error('boom')],
    ['a number code', Object.assign(new Error('x'), { code: 57 })],
    ['a string', 'ECONNRESET'],
    ['null', null],
    ['undefined', undefined],
  ])('fails %s at once', (_, error) => {
    expect(isTransient(error)).toBe(false);
  });

  it('looks through causes, four wrappers deep and no deeper', () => {
    expect(isTransient(wrapped(coded('40001'), 4))).toBe(true);
    expect(isTransient(wrapped(new Error('Connection terminated unexpectedly'), 2))).toBe(true);
    expect(isTransient(wrapped(coded('40001'), 5))).toBe(false);
    expect(isTransient(wrapped(coded('42703'), 1))).toBe(false);
  });
});

describe('backoffDelay', () => {
  const policy: RetryPolicy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1_000 };

  it('doubles from the base up to the cap: between half and all of the ceiling', () => {
    const ceilings = [100, 200, 400, 800, 1_000, 1_000, 1_000];
    ceilings.forEach((ceiling, index) => {
      expect(backoffDelay(index + 1, policy, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(index + 1, policy, () => 0.5)).toBe((ceiling * 3) / 4);
      expect(backoffDelay(index + 1, policy, () => 1 - 2 ** -53)).toBe(ceiling);
    });
  });

  it('jitters over the whole range, never outside it', () => {
    const next = random(20260615);
    for (const attempt of [1, 2, 3, 4, 5, 12]) {
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const delays = Array.from({ length: 2_000 }, () => backoffDelay(attempt, policy, next));
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(ceiling / 2);
      expect(Math.max(...delays)).toBeLessThanOrEqual(ceiling);
      // Spread, not a constant: both ends of the range are reached within a few percent.
      expect(Math.min(...delays)).toBeLessThan(ceiling / 2 + ceiling * 0.02);
      expect(Math.max(...delays)).toBeGreaterThan(ceiling * 0.98);
    }
  });

  it('uses Math.random by default, within the default policy', () => {
    for (let attempt = 1; attempt <= 8; attempt++) {
      const delay = backoffDelay(attempt, DEFAULT_RETRY);
      const ceiling = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** (attempt - 1));
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    }
  });
});

describe('withRetry', () => {
  const policy: RetryPolicy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 };
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A task that fails with `errors` in turn, then returns 'done'; counts its calls. */
  function failing(...errors: unknown[]) {
    const task = vi.fn(async () => {
      if (task.mock.calls.length <= errors.length) throw errors[task.mock.calls.length - 1];
      return 'done';
    });
    return task;
  }

  /** Runs withRetry to its end on the fake clock. */
  async function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
    const settled = promise.then(
      (value) => ({ status: 'fulfilled', value }) as const,
      (reason: unknown) => ({ status: 'rejected', reason }) as const,
    );
    await vi.runAllTimersAsync();
    return settled;
  }

  it('retries transient failures, waiting a backoff between attempts, and returns the result', async () => {
    const task = failing(coded('ECONNRESET'), coded('40P01'));
    const retries: Array<[number, number]> = [];
    const outcome = await settle(withRetry(task, policy, (attempt, delay) => retries.push([attempt, delay])));
    expect(outcome).toEqual({ status: 'fulfilled', value: 'done' });
    expect(task).toHaveBeenCalledTimes(3);
    expect(retries.map(([attempt]) => attempt)).toEqual([1, 2]);
    expect(retries[0]![1]).toBeGreaterThanOrEqual(50);
    expect(retries[0]![1]).toBeLessThanOrEqual(100);
    expect(retries[1]![1]).toBeGreaterThanOrEqual(100);
    expect(retries[1]![1]).toBeLessThanOrEqual(200);
  });

  it('does not start the next attempt before the backoff has passed', async () => {
    const task = failing(coded('ECONNRESET'));
    let delay = -1;
    const result = withRetry(task, policy, (_, ms) => (delay = ms));
    await vi.advanceTimersByTimeAsync(0);
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(delay - 1);
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(task).toHaveBeenCalledTimes(2);
    await expect(result).resolves.toBe('done');
  });

  it('gives up after the last attempt with the last error', async () => {
    const last = coded('57P01');
    const task = failing(coded('ECONNRESET'), coded('ECONNREFUSED'), last, coded('EPIPE'));
    const outcome = await settle(withRetry(task, policy));
    expect(outcome).toEqual({ status: 'rejected', reason: last });
    expect(task).toHaveBeenCalledTimes(3);
  });

  it('fails at once on an error that is not transient, without a wait', async () => {
    const missing = coded('42703');
    const task = failing(missing);
    const onRetry = vi.fn();
    const outcome = await settle(withRetry(task, policy, onRetry));
    expect(outcome).toEqual({ status: 'rejected', reason: missing });
    expect(task).toHaveBeenCalledTimes(1);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('stops retrying once canRetry says no (shutting down)', async () => {
    const lost = coded('ECONNRESET');
    const task = failing(coded('ECONNRESET'), lost, coded('ECONNRESET'));
    let allowed = 1;
    const outcome = await settle(withRetry(task, { ...policy, attempts: 10 }, undefined, () => allowed-- > 0));
    expect(outcome).toEqual({ status: 'rejected', reason: lost });
    expect(task).toHaveBeenCalledTimes(2);
  });

  it('one attempt means no retry', async () => {
    const task = failing(coded('ECONNRESET'));
    const outcome = await settle(withRetry(task, { ...policy, attempts: 1 }));
    expect(outcome.status).toBe('rejected');
    expect(task).toHaveBeenCalledTimes(1);
  });
});
