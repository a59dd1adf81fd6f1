/**
 * src/io/log-format.ts: which format a stream gets, and the pretty line made from a JSON
 * log record (from data; the binary under a terminal is test/e2e/terminal-output.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { formatFor, formatRecord, prettyLine } from '../../src/io/log-format.js';

describe('formatFor', () => {
  it('is pretty on a terminal and JSON elsewhere, unless a format was asked for', () => {
    expect(formatFor(null, { isTTY: true })).toBe('pretty');
    expect(formatFor(null, { isTTY: false })).toBe('json');
    expect(formatFor(null, {})).toBe('json');
    expect(formatFor('json', { isTTY: true })).toBe('json');
    expect(formatFor('pretty', {})).toBe('pretty');
  });
});

describe('prettyLine', () => {
  const record = {
    level: 'error',
    time: '2026-06-15T12:34:56.789Z',
    pid: 42,
    name: 'stats-refresh',
    config: 'users/all/month',
    failed: 3,
    err: 'query user_table failed: column "country" does not exist',
    metrics: { host: '0.0.0.0', port: 9464 },
    msg: 'config failed',
  };

  it('reads as time, level, message, then the fields (pid and name left out)', () => {
    expect(prettyLine(`${JSON.stringify(record)}\n`)).toBe(
      '12:34:56.789 ERROR config failed  config=users/all/month failed=3 ' +
        'err="query user_table failed: column \\"country\\" does not exist" metrics={"host":"0.0.0.0","port":9464}\n',
    );
  });

  it('prints a record without fields as its message alone', () => {
    expect(prettyLine(JSON.stringify({ level: 'info', time: '2026-06-15T00:00:00.000Z', msg: 'schedule stopped' }))).toBe(
      '00:00:00.000 INFO  schedule stopped\n',
    );
  });

  it('escapes control characters, so a message cannot break the line or drive the terminal', () => {
    const line = prettyLine(JSON.stringify({ level: 'warn', time: 'x', msg: 'a\nb\u001b[31m', field: 'c\u0007' }));
    expect(line).toBe('x WARN  a\\u000ab\\u001b[31m  field="c\\u0007"\n');
    expect(line.split('\n')).toHaveLength(2);
  });

  it('keeps a line that is not a JSON object as it is', () => {
    expect(prettyLine('not json')).toBe('not json\n');
    expect(prettyLine('[1,2]\n')).toBe('[1,2]\n');
  });
});

describe('formatRecord', () => {
  it('writes JSON exactly as JSON.stringify would, one line, or the pretty line', () => {
    const record = { level: 'warn', time: '2026-06-15T12:34:56.000Z', pid: 1, name: 'stats-refresh', signal: 'SIGTERM', msg: 'shutdown requested' };
    expect(formatRecord(record, 'json')).toBe(`${JSON.stringify(record)}\n`);
    expect(formatRecord(record, 'pretty')).toBe('12:34:56.000 WARN  shutdown requested  signal=SIGTERM\n');
  });
});
