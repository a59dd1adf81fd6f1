/**
 * Phase 2 of a run: payloads assembled from what was loaded, synchronously. Each distinct
 * section is built and serialised once however many payloads hold it; a request whose
 * sources failed, or that reads a column refused, fails with the first reason.
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
    const failure = this.failureOf(request);
    if (failure) throw failure;
    const value = (BUILDERS[request.section] as (request: SectionRequest, data: RunData, at: Date) => unknown)(request, this.data, this.at);
    const text = pyJson(value);
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
