/**
 * Resources released in the reverse order of their acquisition (the last opened is the
 * first closed), each release awaited and none skipped when another fails.
 */
export class Releasers {
  private readonly stack: Array<{ readonly name: string; readonly release: () => unknown }> = [];

  /** Registers the release of a resource just acquired. */
  push(name: string, release: () => unknown): void {
    this.stack.push({ name, release });
  }

  /** Releases everything, last in first out; `onError` hears each release that failed. */
  async releaseAll(onError: (name: string, error: unknown) => void = () => undefined): Promise<void> {
    for (let entry = this.stack.pop(); entry; entry = this.stack.pop()) {
      try {
        await entry.release();
      } catch (error) {
        onError(entry.name, error);
      }
    }
  }
}
