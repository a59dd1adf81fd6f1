/**
 * Reporting failed requests to Rollbar, when a token is configured. Messages are
 * redacted before they leave the process, and the run waits for delivery.
 */
import { redact } from '../lib/redact.js';

export interface FailureReporter {
  report(message: string, context: Record<string, string>): void;
  /** Resolves once every report is delivered (or given up on). */
  flush(): Promise<void>;
}

export const noReporter: FailureReporter = { report: () => undefined, flush: async () => undefined };

export interface RollbarOptions {
  readonly accessToken: string;
  readonly environment: string;
  readonly endpoint?: string;
  readonly secrets: readonly string[];
  readonly flushTimeoutMs?: number;
  readonly onFlushTimeout?: () => void;
}

/** Replaces, in place, every string inside `value` by its scrubbed form. */
export function scrubDeep(value: unknown, scrub: (text: string) => string, depth = 0): void {
  if (depth > 20 || value === null || typeof value !== 'object') return;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const item = record[key];
    if (typeof item === 'string') record[key] = scrub(item);
    else scrubDeep(item, scrub, depth + 1);
  }
}

/** Loads the Rollbar client only when a token is set: it is a third of the CLI's start-up time. */
export async function createRollbarReporter(options: RollbarOptions): Promise<FailureReporter> {
  const { default: Rollbar } = await import('rollbar');
  const rollbar = new Rollbar({
    accessToken: options.accessToken,
    environment: options.environment,
    captureUncaught: false,
    captureUnhandledRejections: false,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    payload: { context: 'stats-refresh' },
    // The client adds process.argv and more to every item: scrub every string it sends.
    transform: (payload: Record<string, unknown>) => {
      scrubDeep(payload, scrub);
    },
  });
  const scrub = (text: string) => redact(text, [...options.secrets, options.accessToken]);
  return {
    report(message, context) {
      const custom = Object.fromEntries(Object.entries(context).map(([key, value]) => [key, scrub(value)]));
      rollbar.error(scrub(message), custom);
    },
    flush: () =>
      new Promise<void>((resolve) => {
        // An endpoint that never answers must not keep a CronJob pod alive.
        const timer = setTimeout(() => {
          options.onFlushTimeout?.();
          resolve();
        }, options.flushTimeoutMs ?? 10_000);
        timer.unref();
        rollbar.wait(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
