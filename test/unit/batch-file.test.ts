/**
 * src/requests/batch-file.ts: a batch file's lines read as targets, a bad one named by file and line.
 */
import { describe, expect, it } from 'vitest';
import { parseBatchFile } from '../../src/requests/batch-file.js';

describe('batch files', () => {
  it('reads one target a line; blank lines and # comments are ignored', () => {
    const targets = parseBatchFile('# header\n\nexecutions?period=last_week  # hourly view\n  users  \n/stats/dashboard?include=tasks\n', 'batch.txt');
    expect(targets.map((t) => [t.line, t.target.kind])).toEqual([
      [3, 'request'],
      [4, 'families'],
      [5, 'request'],
    ]);
  });

  it('names the file and line of a bad target', () => {
    expect(() => parseBatchFile('users\nexecutions?group_by=15min\n', 'batch.txt')).toThrow(
      'batch.txt:2: Invalid group_by. Must be one of: quarter_hour, hour, day, week, month',
    );
    expect(() => parseBatchFile('\n\nfoo\n', 'b.txt')).toThrow(/^b\.txt:3: unknown target "foo"/);
  });
});
