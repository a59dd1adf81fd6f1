/**
 * Reporting failed configs to Rollbar, when a token is configured. Messages are
 * redacted before they leave the process, and the run waits for delivery.
 */
import { redact } from './redact.js';

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
  });
  const scrub = (text: string) => redact(text, [...options.secrets, options.accessToken]);
  return {
    report(message, context) {
      const custom = Object.fromEntries(Object.entries(context).map(([key, value]) => [key, scrub(value)]));
      rollbar.error(scrub(message), custom);
    },
    flush: () => new Promise<void>((resolve) => rollbar.wait(() => resolve())),
  };
}
