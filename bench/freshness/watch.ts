/**
 * What each change the freshness writer commits makes a cached payload show, as numbers: for
 * every covered key, the fields that count the harness's own rows and nothing else, so that
 * "the key shows the n-th change of a kind" is exactly "the field is at its baseline + n".
 *
 * The harness's rows are told apart from the seed's by a task of their own (PROBE_SLUG), a
 * country of their own (PROBE_COUNTRY) and their time: every row it writes is dated after the
 * cutoff (the start of the week and of the month it starts in), which must be later than the
 * newest seeded timestamp, so a bucket at or after the cutoff holds the harness's rows only.
 * Fields that time alone moves on the seed's data (a total over a window with seeded rows at
 * its edge, such as last_year's summary) are not watched.
 */
import type { Period } from '../../src/lib/time.js';

export const CHANGE_KINDS = ['new_run', 'run_finished', 'new_user'] as const;
/** A change the writer commits: a run submitted, a running run finished, a user registered. */
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** The slug of the harness's script: no version, so its task name is the slug and its major version `unknown`. */
export const PROBE_SLUG = 'freshness-probe';
/** The country of every user the harness registers. */
export const PROBE_COUNTRY = 'Freshland';

/** One number of one key's payload that moves by one with each change of `kind`. */
export interface Watch {
  readonly key: string;
  readonly kind: ChangeKind;
  /** What is read, for the JSON report (e.g. `summary.total_executions`). */
  readonly field: string;
  /** The number, or undefined when the payload does not hold it (then it is not watched). */
  read(payload: unknown): number | undefined;
}

export interface WatchContext {
  /** Buckets labelled at or after this `YYYY-MM-DDTHH:MM:SS` hold the harness's rows only. */
  readonly cutoffLabel: string;
  /** Periods whose window holds no seeded row for the whole measurement (all, and windows after the newest seeded row). */
  readonly quietPeriods: ReadonlySet<Period>;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const name of path) {
    if (!isObject(current)) return undefined;
    current = current[name];
  }
  return current;
}

const number = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);

/**
 * The earliest instant a bucket holding `instant` can start at, whatever its granularity
 * (quarter-hour to month, Monday weeks), as a bucket label.
 */
export function cutoffLabel(instant: Date): string {
  const day = Date.UTC(instant.getUTCFullYear(), instant.getUTCMonth(), instant.getUTCDate());
  const monday = day - ((instant.getUTCDay() + 6) % 7) * 86_400_000;
  const monthStart = Date.UTC(instant.getUTCFullYear(), instant.getUTCMonth(), 1);
  return new Date(Math.min(monday, monthStart)).toISOString().slice(0, 19);
}

/** A bucket label (`YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`) in the full form, for comparing. */
export function fullLabel(label: string): string {
  if (label.length === 7) return `${label}-01T00:00:00`;
  if (label.length === 10) return `${label}T00:00:00`;
  return label;
}

/** The sum of `pick(entry)` over the entries of `list` whose `labelField` is at or after the cutoff. */
function sumAfter(list: unknown, labelField: string, cutoff: string, pick: (entry: Json) => unknown): number | undefined {
  if (!Array.isArray(list)) return undefined;
  let sum = 0;
  for (const entry of list) {
    if (!isObject(entry) || typeof entry[labelField] !== 'string') continue;
    if (fullLabel(entry[labelField] as string) >= cutoff) sum += number(pick(entry)) ?? 0;
  }
  return sum;
}

/** The period in a key (`period=last_week`), or null. */
export function periodOf(key: string): Period | null {
  return (/period=(all|last_day|last_week|last_month|last_year)/.exec(key)?.[1] as Period | undefined) ?? null;
}

/** The sections of a payload, under the names the dashboard gives them, whichever key holds them. */
function sectionsOf(key: string, payload: unknown): Json {
  if (key.includes(':_get_summary_stats:')) return { summary: payload };
  if (key.includes(':_get_trends_data:')) return { trends: payload };
  if (key.includes(':_get_geographic_data:')) return { geographic: payload };
  if (!isObject(payload)) return {};
  return { ...payload, ...(payload.geographic_distribution === undefined ? {} : { geographic: payload.geographic_distribution }) };
}

type Reader = (sections: Json) => number | undefined;
interface FieldSpec {
  readonly kind: ChangeKind;
  readonly field: string;
  readonly read: Reader;
  /** Only for periods without seeded rows inside (a total over the whole window). */
  readonly quietOnly?: boolean;
}

const TREND_SERIES = [
  ['hourly_jobs', 'hour'],
  ['daily_jobs', 'date'],
  ['monthly_jobs', 'month'],
] as const;

function fieldSpecs(cutoff: string, statusFilter: string | null): FieldSpec[] {
  const probeTask = (list: unknown, field: string, missing: number | undefined) => {
    if (!Array.isArray(list)) return undefined;
    const entry = list.find((item) => isObject(item) && item.task === PROBE_SLUG) as Json | undefined;
    return entry ? number(entry[field]) : missing;
  };
  const specs: FieldSpec[] = [
    { kind: 'new_run', field: 'summary.total_executions', read: (s) => number(at(s, 'summary', 'total_executions')), quietOnly: true },
    { kind: 'run_finished', field: 'summary.total_executions_finished', read: (s) => number(at(s, 'summary', 'total_executions_finished')), quietOnly: true },
    { kind: 'new_user', field: 'summary.total_users', read: (s) => number(at(s, 'summary', 'total_users')), quietOnly: true },
    ...TREND_SERIES.map(([series, label]): FieldSpec => ({
      kind: 'new_run',
      field: `trends.${series}[>=cutoff].count`,
      read: (s) => sumAfter(at(s, 'trends', series), label, cutoff, (entry) => entry.count),
    })),
    // by_type lists the first 10 tasks only: watched where the probe task is among them.
    { kind: 'new_run', field: `tasks.by_type[${PROBE_SLUG}].count`, read: (s) => probeTask(at(s, 'tasks', 'by_type'), 'count', undefined) },
    {
      kind: 'new_run',
      field: 'tasks.by_version[unknown].count',
      read: (s) => {
        const list = at(s, 'tasks', 'by_version');
        if (!Array.isArray(list)) return undefined;
        return number((list.find((item) => isObject(item) && item.version === 'unknown') as Json | undefined)?.count);
      },
      quietOnly: true,
    },
    {
      kind: 'new_user',
      field: `geographic.countries[${PROBE_COUNTRY}]`,
      read: (s) => (isObject(at(s, 'geographic', 'countries')) ? (number(at(s, 'geographic', 'countries', PROBE_COUNTRY)) ?? 0) : undefined),
    },
    {
      kind: 'new_user',
      field: 'registration_trends[>=cutoff].new_users',
      read: (s) => sumAfter(s.registration_trends, 'date', cutoff, (entry) => entry.new_users),
    },
    // task_performance lists every task: a task absent has no finished run yet.
    { kind: 'run_finished', field: `task_performance[${PROBE_SLUG}].total_executions`, read: (s) => probeTask(s.task_performance, 'total_executions', 0) },
  ];
  // A new run is PENDING and a finished one FINISHED: a series filtered on another status shows neither.
  if (statusFilter === null) {
    specs.push({
      kind: 'new_run',
      field: `time_series[>=cutoff].by_task[${PROBE_SLUG}]`,
      read: (s) => sumAfter(s.time_series, 'timestamp', cutoff, (entry) => at(entry, 'by_task', PROBE_SLUG)),
    });
  }
  if (statusFilter === null || statusFilter === 'FINISHED') {
    specs.push({
      kind: 'run_finished',
      field: 'time_series[>=cutoff].by_status.FINISHED',
      read: (s) => sumAfter(s.time_series, 'timestamp', cutoff, (entry) => at(entry, 'by_status', 'FINISHED')),
    });
  }
  return specs;
}

/** The status filter of an executions key (`status=FAILED`), or null. */
function statusFilterOf(key: string): string | null {
  const status = /status=([^_]+)/.exec(key)?.[1];
  return status === undefined || status === 'none' ? null : status;
}

/**
 * The watches of one key, from its payload at the baseline: every field that payload holds
 * and that only the harness's changes move.
 */
export function watchesOf(key: string, baseline: unknown, context: WatchContext): Watch[] {
  const period = periodOf(key);
  const watches: Watch[] = [];
  for (const spec of fieldSpecs(context.cutoffLabel, statusFilterOf(key))) {
    if (spec.quietOnly && (period === null || !context.quietPeriods.has(period))) continue;
    const read = (payload: unknown) => spec.read(sectionsOf(key, payload));
    if (read(baseline) === undefined) continue;
    watches.push({ key, kind: spec.kind, field: spec.field, read });
  }
  return watches;
}

/** Period cutoffs in days, as the contract defines them. */
const PERIOD_DAYS: Readonly<Record<Exclude<Period, 'all'>, number>> = { last_day: 1, last_week: 7, last_month: 30, last_year: 365 };

/**
 * The periods whose window holds no seeded row from `from` on: `all` (nothing leaves it), and
 * every window whose cutoff at `from` is after the newest seeded timestamp.
 */
export function quietPeriods(from: Date, newestSeeded: Date): Set<Period> {
  const quiet = new Set<Period>(['all']);
  for (const [period, days] of Object.entries(PERIOD_DAYS) as Array<[Period, number]>) {
    if (from.getTime() - days * 86_400_000 > newestSeeded.getTime()) quiet.add(period);
  }
  return quiet;
}
