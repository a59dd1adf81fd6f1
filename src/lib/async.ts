/**
 * Waiting, bounded: every wait of the process goes through these, so each one ends at its
 * deadline or at the first shutdown signal, whichever comes first.
 */

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Settles every task, but once `signal` has aborted waits at most `graceMs` more, and not at
 * all once `deadline` has aborted; a task still running then is reported as `undefined`.
 */
export async function settleWithinGrace<T>(
  tasks: ReadonlyArray<Promise<T>>,
  signal: AbortSignal | undefined,
  graceMs: number,
  deadline?: AbortSignal,
): Promise<Array<PromiseSettledResult<T> | undefined>> {
  const outcomes: Array<PromiseSettledResult<T> | undefined> = tasks.map(() => undefined);
  const all = Promise.all(
    tasks.map((task, index) =>
      task.then(
        (value) => void (outcomes[index] = { status: 'fulfilled', value }),
        (reason: unknown) => void (outcomes[index] = { status: 'rejected', reason }),
      ),
    ),
  );
  if (!signal && !deadline) {
    await all;
    return outcomes;
  }
  const grace = new AbortController();
  const endAtDeadline = () => grace.abort();
  if (deadline?.aborted) grace.abort();
  else deadline?.addEventListener('abort', endAtDeadline, { once: true });
  const startGrace = () => void sleep(graceMs, grace.signal).then(() => grace.abort());
  if (signal?.aborted) startGrace();
  else signal?.addEventListener('abort', startGrace, { once: true });
  const ended = grace.signal.aborted ? Promise.resolve() : new Promise((resolve) => grace.signal.addEventListener('abort', resolve, { once: true }));
  await Promise.race([all, ended]);
  // A signal after this point must not start a grace timer that holds the process.
  signal?.removeEventListener('abort', startGrace);
  deadline?.removeEventListener('abort', endAtDeadline);
  grace.abort();
  return [...outcomes];
}
