/**
 * Structured logs on stderr (stdout carries the run summary only). Payloads are never
 * logged: they hold emails.
 */
import pino, { type Logger } from 'pino';
import { errorMessage } from '../lib/errors.js';
import { type LogFormat, prettyDestination } from './log-format.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A synchronous stderr logger, so nothing is lost when the process exits. An `err` field
 * takes the error itself: it is written as one redacted line, never a stack. `pretty`
 * rewrites each line after the redaction, in the same thread.
 */
export function createLogger(level: LogLevel, secrets: readonly string[] = [], format: LogFormat = 'json'): Logger {
  const stderr = pino.destination({ fd: 2, sync: true });
  return pino(
    {
      name: 'stats-refresh',
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: (error: unknown) => errorMessage(error, secrets) },
      redact: { paths: ['*.password', '*.token', '*.access_token', 'email', '*.email'], censor: '***' },
    },
    format === 'pretty' ? prettyDestination(stderr) : stderr,
  );
}
