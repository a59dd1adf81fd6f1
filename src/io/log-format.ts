/**
 * How logs and summaries print: JSON lines for machines (pipes, files, log collectors), or
 * lines a person reads on a terminal. The pretty lines are rewritten from the JSON the
 * logger already produced, so its redaction stands in front of both formats.
 */
import type { DestinationStream } from 'pino';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The format for one output stream: the one asked for (LOG_FORMAT or --json), else pretty
 * exactly when the stream is a terminal. stdout and stderr are judged apart, so
 * `refresh all | jq` gets JSON while its logs stay readable on the terminal.
 */
export function formatFor(chosen: LogFormat | null, stream: { readonly isTTY?: boolean }): LogFormat {
  return chosen ?? (stream.isTTY === true ? 'pretty' : 'json');
}

/** Fields every record carries that a person at a terminal does not need on each line. */
const HIDDEN_FIELDS = new Set(['level', 'time', 'pid', 'name', 'msg']);

/** A bare word prints as is; anything with spaces, quotes or structure prints as JSON. */
function fieldValue(value: unknown): string {
  if (typeof value === 'string' && /^[^\s"=\u0000-\u001f\u007f-\u009f]+$/.test(value)) return value;
  return printable(JSON.stringify(value) ?? String(value));
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Control characters escaped as JSON would: a message cannot break the line or drive the terminal. */
function printable(text: string): string {
  return text.replace(CONTROL, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `12:34:56.789` of an ISO instant (UTC, as every time the tool prints); the text itself otherwise. */
function clockOf(time: unknown): string {
  const match = typeof time === 'string' ? /T(\d\d:\d\d:\d\d(?:\.\d+)?)Z$/.exec(time) : null;
  return match ? match[1]! : String(time ?? '');
}

/**
 * One JSON log line as `12:34:56.789 INFO  refresh finished  successful=26 failed=0`. A
 * line that is not a JSON object is kept as it is rather than lost.
 */
export function prettyLine(jsonLine: string): string {
  let record: unknown;
  try {
    record = JSON.parse(jsonLine);
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`;
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return `${jsonLine.trimEnd()}\n`;
  const fields = record as Record<string, unknown>;
  const rest = Object.entries(fields)
    .filter(([name]) => !HIDDEN_FIELDS.has(name))
    .map(([name, value]) => `${name}=${fieldValue(value)}`);
  const level = String(fields.level ?? '').toUpperCase().padEnd(5);
  const head = `${clockOf(fields.time)} ${level} ${printable(String(fields.msg ?? ''))}`;
  return `${rest.length > 0 ? `${head}  ${rest.join(' ')}` : head}\n`;
}

/** A pino destination that writes each record as a pretty line, synchronously, to `target`. */
export function prettyDestination(target: DestinationStream): DestinationStream {
  return { write: (line: string) => target.write(prettyLine(line)) };
}

/** One log record in `format`, for the few lines written outside the logger (signals, library warnings). */
export function formatRecord(record: Record<string, unknown>, format: LogFormat): string {
  const line = JSON.stringify(record);
  return format === 'json' ? `${line}\n` : prettyLine(line);
}
