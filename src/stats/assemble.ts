/**
 * Phase 2 of a run: payloads assembled from what was loaded, synchronously. Each distinct
 * section is built and serialised once however many payloads hold it; a request whose
 * sources failed, or that reads a column refused, fails with the first reason. With rows in
 * memory, a section's text is kept between runs and given again while what it is built from
 * provably did not change (see inputsOf).
 */
import { pyJson, pyString } from '../lib/pyjson.js';
import type { Column } from '../pass/catalog.js';
import { SOURCE_NAMES, withInputs } from '../pass/plan.js';
import type { RunData, SourceName } from '../pass/run-data.js';
import type { StatsRequest } from '../requests/batches.js';
import { summarySection, tasksSection, trendsSection } from './dashboard.js';
import { taskPerformance, timeSeries, topUsers } from './executions.js';
import { geographicSection } from './geographic.js';
import {
  type PayloadPart,
  partsOf,
  refusedColumnOf,
  SECTION_SOURCES,
  type SectionName,
  type SectionOf,
  type SectionRequest,
  sinceOf,
} from './sections.js';
import { activityStats, registrationTrends } from './users.js';

type Builders = { readonly [S in SectionName]: (request: SectionOf<S>, data: RunData, at: Date) => unknown };

const BUILDERS: Builders = {
  summary: ({ period }, data, at) => summarySection(data, sinceOf(period, at)),
  trends: ({ period }, data, at) => trendsSection(data, period, at),
  geographic: ({ period }, data, at) => geographicSection(data, sinceOf(period, at)),
  tasks: ({ period }, data, at) => tasksSection(data, sinceOf(period, at)),
  timeSeries: ({ period, groupBy, taskType, status }, data, at) =>
    timeSeries(data, { since: sinceOf(period, at), groupBy, taskType, status }),
  topUsers: ({ period, taskType }, data, at) => topUsers(data, sinceOf(period, at), taskType),
  taskPerformance: ({ period }, data, at) => taskPerformance(data, sinceOf(period, at)),
  registration: ({ period, groupBy, country }, data, at) => registrationTrends(data, sinceOf(period, at), groupBy, country),
  activity: ({ period }, data, at) => activityStats(data, sinceOf(period, at)),
};

/**
 * Section texts kept between runs (src/state/section-texts.ts): a text is given again only
 * under the same key and the same inputs.
 */
export interface KeptSections {
  get(key: string, inputs: readonly unknown[]): string | undefined;
  set(key: string, inputs: readonly unknown[], text: string): void;
  /** Counts a section built or reused, by its name. */
  count(section: string, reused: boolean): void;
}

/**
 * The sections whose text follows from the users created since their window (summary's
 * total_users, users per country, registrations): the rows in that window count, not only the
 * table's version. Activity reads the table's countries and count alone.
 */
const USER_WINDOWED: ReadonlySet<SectionName> = new Set(['summary', 'geographic', 'registration']);

/**
 * What a section's text follows from besides its request, or null when it cannot be kept.
 * Every builder uses the run's instant only through which rows lie in its windows (no
 * zero-filled bucket, no bound written out), so:
 * - the pass's content version: the same version holds the same rows in the same tiers, of the
 *   same plan shape and script table (the scripts the sections read are those the pass was
 *   made with; a section reading the scripts without the pass is never kept);
 * - the user table, its version and, for USER_WINDOWED sections, where its window starts
 *   among the dated rows: the same rows in the window;
 * - the top users' emails.
 * A source without a version (a COPY run's, a pass not kept) is never kept.
 */
function inputsOf(request: SectionRequest, data: RunData, at: Date): unknown[] | null {
  const versions = data.versions;
  if (!versions) return null;
  const sources = withInputs(SECTION_SOURCES[request.section]);
  const inputs: unknown[] = [];
  if (sources.has('execution_pass')) {
    const pass = versions.pass();
    if (pass === null) return null;
    inputs.push(pass);
  } else if (sources.has('scripts')) {
    return null;
  }
  if (sources.has('user_table')) {
    const users = versions.users();
    if (users === null) return null;
    inputs.push(...users);
    if (USER_WINDOWED.has(request.section)) inputs.push(versions.usersBefore(sinceOf(request.period, at)));
  }
  if (sources.has('top_user_emails')) inputs.push(versions.emails());
  return inputs;
}

/** The first failed source (in load order) among `sources`, with its error. */
function firstFailure(data: RunData, sources: ReadonlySet<SourceName>): Error | null {
  const failed = SOURCE_NAMES.find((source) => sources.has(source) && data.failures.has(source));
  return failed ? data.failures.get(failed)! : null;
}

/**
 * The payloads and sections of one run at one instant, as the JSON text stored: each
 * distinct section is built and serialised once, and a payload is its sections' text
 * under their fields (what serialising the payload whole would write).
 */
export class Assembler {
  private readonly built = new Map<string, string>();

  constructor(
    private readonly data: RunData,
    private readonly at: Date,
    /** Columns of a type the pass cannot read (src/pass/catalog.ts): the sections reading them fail. */
    private readonly refused: ReadonlyMap<Column, Error> = new Map(),
    /** Texts kept from the last run (rows in memory): a section built from the same inputs is given again. */
    private readonly kept?: KeptSections,
  ) {}

  /** Why a section cannot be built (a refused column it reads, a source that failed), or null. */
  failureOf(request: SectionRequest): Error | null {
    return refusedColumnOf(request, this.refused) ?? firstFailure(this.data, withInputs(SECTION_SOURCES[request.section]));
  }

  /** A section's JSON text; throws the error of a refused column or a failed source it reads. */
  section(request: SectionRequest): string {
    // The request objects come from partsOf only, so their JSON is canonical.
    const key = JSON.stringify(request);
    const built = this.built.get(key);
    if (built !== undefined) return built;
    // A failure is never kept: it shows as it does without kept texts.
    const failure = this.failureOf(request);
    if (failure) throw failure;
    const inputs = this.kept ? inputsOf(request, this.data, this.at) : null;
    const reused = inputs === null ? undefined : this.kept!.get(key, inputs);
    const text = reused ?? pyJson((BUILDERS[request.section] as (request: SectionRequest, data: RunData, at: Date) => unknown)(request, this.data, this.at));
    if (inputs !== null && reused === undefined) this.kept!.set(key, inputs, text);
    this.kept?.count(request.section, reused !== undefined);
    this.built.set(key, text);
    return text;
  }

  /**
   * The JSON text of sections under their fields (a payload), or of a section alone (one
   * part whose field is ''); throws why its first section that cannot be built cannot.
   */
  parts(parts: readonly PayloadPart[]): string {
    const failure = parts.map(([, request]) => this.failureOf(request)).find((error) => error !== null);
    if (failure) throw failure;
    if (parts.length === 1 && parts[0]![0] === '') return this.section(parts[0]![1]);
    return `{${parts.map(([field, request]) => `${pyString(field)}: ${this.section(request)}`).join(', ')}}`;
  }

  /** A request's payload as JSON text. */
  payload(request: StatsRequest): string {
    return this.parts(partsOf(request));
  }
}
