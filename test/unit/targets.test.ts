/**
 * src/run/targets.ts: the targets of a run from its arguments and its batch file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTargets } from '../../src/run/targets.js';

describe('resolving the targets of a run', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sr-test-targets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'requests.txt');
  writeFileSync(file, 'executions?period=last_week\nusers?country=Kenya\ndashboard\n');
  const batch = { path: file, source: '--batch-file' };

  it('families from names, requests from the API syntax, first come first', () => {
    const targets = resolveTargets(['users', 'executions?status=FAILED', 'all'], null);
    expect(targets.families).toEqual(['dashboard', 'executions', 'users']);
    expect(targets.requests).toEqual([{ family: 'executions', period: 'last_month', groupBy: 'day', status: 'FAILED', taskType: null }]);
  });

  it('a batch file alone gives all its targets', () => {
    const targets = resolveTargets([], batch);
    expect(targets.families).toEqual(['dashboard']);
    expect(targets.requests.map((request) => request.family)).toEqual(['executions', 'users']);
  });

  it('with families named, the file adds only their part (each CronJob mounts the same file)', () => {
    const executions = resolveTargets(['executions'], batch);
    expect(executions.families).toEqual(['executions']);
    expect(executions.requests.map((request) => request.family)).toEqual(['executions']);
    const dashboard = resolveTargets(['dashboard'], batch);
    expect(dashboard).toMatchObject({ families: ['dashboard'], requests: [] });
  });

  it('keeps what the API ignores for a warning, and refuses nothing to do', () => {
    expect(resolveTargets(['users?colour=red'], null).ignored).toEqual([{ target: 'users?colour=red', parameters: ['colour'] }]);
    expect(() => resolveTargets([], null)).toThrow(/^nothing to refresh/);
  });

  it('names the flag or variable of a file it cannot read, and reads only regular files', () => {
    expect(() => resolveTargets([], { path: '/nonexistent/batch.txt', source: 'STATS_REFRESH_BATCH_FILE' })).toThrow(
      'STATS_REFRESH_BATCH_FILE: cannot read /nonexistent/batch.txt (ENOENT: no such file)',
    );
    writeFileSync(path.join(dir, 'ok.txt'), 'all\r\n');
    expect(resolveTargets([], { path: path.join(dir, 'ok.txt'), source: '--batch-file' }).families).toHaveLength(3);
    expect(() => resolveTargets([], { path: dir, source: '--batch-file' })).toThrow(`--batch-file: cannot read ${dir} (a folder, not a file)`);
    expect(() => resolveTargets([], { path: '/dev/zero', source: '--batch-file' })).toThrow('--batch-file: cannot read /dev/zero (not a regular file)');
  });
});
