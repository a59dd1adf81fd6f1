/**
 * Phase 2 of a run: payloads assembled from what was loaded, synchronously. Each distinct
 * section is built and serialised once however many payloads hold it; a config whose
 * sources failed fails with the first of them.
 */
import type { RunData, SourceName } from '../pass/run-data.js';
import type { RefreshConfig } from '../requests/batches.js';
import { summarySection, tasksSection, trendsSection } from './dashboard.js';
import { taskPerformance, timeSeries, topUsers } from './executions.js';
import { geographicSection } from './geographic.js';
import { type SectionName, type SectionOf, type SectionRequest, partsOf, sinceOf, sourcesOf, SECTION_SOURCES } from './sections.js';
import { activityStats, registrationTrends } from './users.js';
import { SOURCE_NAMES, withInputs } from '../pass/plan.js';
import { pyJson, pyString } from '../lib/pyjson.js';

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
  ) {}

  /** A section's JSON text; throws the error of a source it reads that failed. */
  section(request: SectionRequest): string {
    // The request objects come from partsOf only, so their JSON is canonical.
    const key = JSON.stringify(request);
    const built = this.built.get(key);
    if (built !== undefined) return built;
    const failure = firstFailure(this.data, withInputs(SECTION_SOURCES[request.section]));
    if (failure) throw failure;
    const value = (BUILDERS[request.section] as (request: SectionRequest, data: RunData, at: Date) => unknown)(request, this.data, this.at);
    const text = pyJson(value);
    this.built.set(key, text);
    return text;
  }

  /** A config's payload as JSON text, its sections under their fields; throws the error of the first failed source it reads. */
  payload(config: RefreshConfig): string {
    const failure = firstFailure(this.data, sourcesOf(config));
    if (failure) throw failure;
    return `{${partsOf(config).map(([field, request]) => `${pyString(field)}: ${this.section(request)}`).join(', ')}}`;
  }
}
