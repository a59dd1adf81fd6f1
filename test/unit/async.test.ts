/**
 * src/lib/async.ts: bounded waits that end at their deadline or at once when the signal aborts,
 * and settling tasks with a grace period after the signal. On vitest's fake clock: no assertion
 * here depends on real time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settleWithinGrace, sleep } from '../../src/lib/async.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** Whether `promise` has settled by now (after the microtasks already queued). */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await vi.advanceTimersByTimeAsync(0);
  return settled;
}

describe('sleep', () => {
  it('resolves at its deadline, not before', async () => {
    const wait = sleep(1_000);
    await vi.advanceTimersByTimeAsync(999);
    expect(await isSettled(wait)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await isSettled(wait)).toBe(true);
  });

  it('resolves at once when the signal aborts, and leaves no timer or listener behind', async () => {
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const wait = sleep(3_600_000, controller.signal);
    expect(await isSettled(wait)).toBe(false);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort();
    expect(await isSettled(wait)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
  });

  it('does not wait at all on a signal already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const wait = sleep(3_600_000, controller.signal);
    expect(await isSettled(wait)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('removes its abort listener when the deadline comes first', async () => {
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const wait = sleep(10, controller.signal);
    await vi.advanceTimersByTimeAsync(10);
    await expect(wait).resolves.toBeUndefined();
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
  });
});

describe('settleWithinGrace', () => {
  it('without a signal, waits for every task and reports each outcome in order', async () => {
    const slow = deferred<string>();
    const result = settleWithinGrace([Promise.resolve('a'), Promise.reject(new Error('b')), slow.promise], undefined, 10);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(await isSettled(result)).toBe(false);
    slow.resolve('c');
    expect(await result).toEqual([
      { status: 'fulfilled', value: 'a' },
      { status: 'rejected', reason: new Error('b') },
      { status: 'fulfilled', value: 'c' },
    ]);
  });

  it('with a signal that never aborts, waits for every task however long', async () => {
    const controller = new AbortController();
    const slow = deferred<number>();
    const result = settleWithinGrace([slow.promise], controller.signal, 10);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(await isSettled(result)).toBe(false);
    slow.resolve(1);
    expect(await result).toEqual([{ status: 'fulfilled', value: 1 }]);
  });

  it('after the signal, waits at most the grace period; a task still running is undefined', async () => {
    const controller = new AbortController();
    const quick = deferred<string>();
    const stuck = deferred<string>();
    const result = settleWithinGrace([quick.promise, stuck.promise], controller.signal, 5_000);
    controller.abort();
    quick.resolve('written');
    await vi.advanceTimersByTimeAsync(4_999);
    expect(await isSettled(result)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toEqual([{ status: 'fulfilled', value: 'written' }, undefined]);
    // What the stuck task does later does not change the answer already given.
    stuck.resolve('late');
    expect(await result).toEqual([{ status: 'fulfilled', value: 'written' }, undefined]);
  });

  it('a signal aborted before the call starts the grace period at once', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = settleWithinGrace([deferred<void>().promise], controller.signal, 100);
    await vi.advanceTimersByTimeAsync(100);
    expect(await result).toEqual([undefined]);
  });

  it('returns as soon as every task settles within the grace, leaving no timer behind', async () => {
    const controller = new AbortController();
    const task = deferred<string>();
    const result = settleWithinGrace([task.promise], controller.signal, 60_000);
    controller.abort();
    await vi.advanceTimersByTimeAsync(10);
    task.resolve('done');
    expect(await isSettled(result)).toBe(true);
    expect(await result).toEqual([{ status: 'fulfilled', value: 'done' }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a signal after every task settled starts no grace timer (nothing holds the process)', async () => {
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    expect(await settleWithinGrace([Promise.resolve(1)], controller.signal, 60_000)).toEqual([{ status: 'fulfilled', value: 1 }]);
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
    controller.abort();
    expect(vi.getTimerCount()).toBe(0);
  });
});
