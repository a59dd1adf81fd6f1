/**
 * Structured logs on stderr (stdout carries the run summary only). Payloads are never
 * logged: they hold emails.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A synchronous stderr logger, so nothing is lost when the process exits. */
export function createLogger(level: LogLevel, destination: number = 2): Logger {
  return pino(
    {
      name: 'stats-refresh',
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['*.password', '*.token', '*.access_token', 'email', '*.email'], censor: '***' },
    },
    pino.destination({ fd: destination, sync: true }),
  );
}
