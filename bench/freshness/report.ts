/**
 * The freshness harness's figures as a table for people: pure formatting.
 */
import type { LagSummary, Spread } from './lag.js';
import type { ChangeKind } from './watch.js';

/** Everything measured for one contender in one scenario. */
export interface ScenarioResult {
  readonly contender: string;
  readonly scenario: string;
  /** How long the writer wrote (ms), then how long the harness kept watching. */
  readonly durationMs: number;
  readonly drainMs: number;
  /** Changes committed, and progress-only writes (not changes). */
  readonly commits: number;
  readonly noiseWrites: number;
  /** Every kind together (`all`), then each kind that was committed. */
  readonly lags: Readonly<Partial<Record<ChangeKind | 'all', LagSummary>>>;
  /** Every-key lag estimated from the cron cadence (next firing of each affected family, plus a run), or null. */
  readonly estimateMs: { readonly p50: number; readonly max: number } | null;
  /** Runs that finished in the scenario, by the reason schedule logged. */
  readonly runsByReason: Readonly<Record<string, number>>;
  /** Increase of every sample of schedule's runs counter (`family/result`, and reason when it has one). */
  readonly runsMetrics: Readonly<Record<string, number>>;
  readonly pgCpuPerMinuteMs: Spread;
  /** PostgreSQL CPU a minute over the whole scenario (see cpuMeanPerMinute). */
  readonly pgCpuMeanPerMinuteMs: number;
  readonly cliCpuPerMinuteMs: Spread;
  /** The process's peak RSS so far (VmHWM), at the scenario's end. */
  readonly peakRssMib: number | null;
}

/** Columns padded to their widest cell: the first left-aligned, the others right-aligned. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((cell, index) => Math.max(cell.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: readonly string[]) =>
    widths
      .map((width, index) => {
        const cell = cells[index] ?? '';
        return index === 0 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** Milliseconds as seconds with one decimal; a dash when there is no figure. */
export function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '–';
}

const cpu = (value: Spread) =>
  Number.isFinite(value.median) ? `${Math.round(value.median)} ms (${Math.round(value.min)}–${Math.round(value.max)})` : '–';

const counts = (record: Readonly<Record<string, number>>) =>
  Object.entries(record)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ') || 'none';

export const TABLE_HEADER = [
  'contender', 'scenario', 'change', 'seen/committed', 'every key p50', 'p99', 'max', 'first key p50', 'cron est. p50/max',
  'runs by reason', 'PostgreSQL CPU/min', 'CLI CPU/min', 'peak RSS',
] as const;

/** The table's rows: per scenario, every change together, then each kind, then the noise writes if any. */
export function tableRows(results: readonly ScenarioResult[]): string[][] {
  const rows: string[][] = [];
  for (const result of results) {
    const kinds = Object.entries(result.lags).filter(([kind]) => kind !== 'all') as Array<[ChangeKind, LagSummary]>;
    const all = result.lags.all;
    const lagCells = (lag: LagSummary | undefined) =>
      lag ? [`${lag.seen}/${lag.committed}`, seconds(lag.p50), seconds(lag.p99), seconds(lag.max), seconds(lag.firstKeyP50)] : ['0/0', '–', '–', '–', '–'];
    rows.push([
      result.contender,
      result.scenario,
      result.noiseWrites > 0 && result.commits === 0 ? `none (${result.noiseWrites} progress writes)` : 'all',
      ...lagCells(all),
      result.estimateMs ? `${seconds(result.estimateMs.p50)} / ${seconds(result.estimateMs.max)}` : '–',
      counts(result.runsByReason),
      `${Number.isFinite(result.pgCpuMeanPerMinuteMs) ? `${Math.round(result.pgCpuMeanPerMinuteMs)} ms` : '–'} mean; ${cpu(result.pgCpuPerMinuteMs)}`,
      cpu(result.cliCpuPerMinuteMs),
      result.peakRssMib === null ? '–' : `${Math.round(result.peakRssMib)} MiB`,
    ]);
    if (kinds.length > 1) for (const [kind, lag] of kinds) rows.push(['', '', kind, ...lagCells(lag), '', '', '', '', '']);
  }
  return rows;
}

/** The whole human report: the table and what its columns mean. */
export function formatReport(results: readonly ScenarioResult[]): string {
  return [
    formatTable(TABLE_HEADER, tableRows(results)),
    '',
    'seen/committed: changes every affected key showed before the scenario\'s end (its drain included) / changes committed.',
    'every key: commit to the instant the last affected key showed the change (Redis polled every ~100 ms); first key: to the first.',
    'cron est.: the same lag estimated from the cron cadence (next firing of every affected family after the commit, plus a run).',
    'runs by reason: `schedule run finished` lines in the scenario; CPU/min: median (min–max) over its minutes; PostgreSQL\'s mean: its total over the scenario, a minute.',
  ].join('\n');
}
