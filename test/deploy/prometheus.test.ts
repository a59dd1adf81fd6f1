/**
 * deploy/prometheus/rules.yml checked and unit-tested by the real promtool, shown to bite
 * on a broken copy, and naming only metrics that stats-refresh defines.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RefreshMetrics } from '../../src/io/metrics.js';
import { PROJECT_ROOT } from './paths.js';

const DIR = join(PROJECT_ROOT, 'deploy/prometheus');

function promtool(args: readonly string[], cwd = DIR) {
  const result = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (result.error) throw new Error(`promtool not runnable (${result.error.message}); .ci/run installs Debian's prometheus`);
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('deploy/prometheus', () => {
  it('promtool check rules: valid', () => {
    const { code, output } = promtool(['check', 'rules', 'rules.yml']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/SUCCESS: 6 rules found/);
  });

  it('promtool test rules: stale and failing families alert, healthy ones do not', () => {
    const { code, output } = promtool(['test', 'rules', 'rules.test.yml']);
    expect(code, output).toBe(0);
  });

  it('a rule that no longer says "two intervals" fails the rule tests', () => {
    const work = mkdtempSync(join(tmpdir(), 'stats-refresh-rules-'));
    try {
      cpSync(DIR, work, { recursive: true });
      const rules = readFileSync(join(work, 'rules.yml'), 'utf8');
      expect(rules).toContain('> on (family) 2 * stats_refresh:schedule_interval_seconds');
      writeFileSync(join(work, 'rules.yml'), rules.replace('> on (family) 2 *', '> on (family) 3 *'));
      const { code, output } = promtool(['test', 'rules', 'rules.test.yml'], work);
      expect(code).not.toBe(0);
      expect(output).toMatch(/StatsRefreshStale/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('names only metrics stats-refresh defines', () => {
    const defined = new Set(new RefreshMetrics().registry.getMetricsAsArray().map((metric) => metric.name));
    const used = new Set([...readFileSync(join(DIR, 'rules.yml'), 'utf8').matchAll(/\bstats_refresh_\w+/g)].map((match) => match[0]));
    expect(used.size).toBeGreaterThanOrEqual(2);
    for (const name of used) expect(defined.has(name), name).toBe(true);
  });
});
