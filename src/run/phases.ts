/**
 * The phases a refresh (src/run/refresh-run.ts) and `verify` (src/run/verification.ts) share:
 * check the catalog, plan the sections and load what they read, assemble. Each takes data and
 * returns data.
 */
import type { Logger } from '../io/logger.js';
import { errorMessage } from '../lib/errors.js';
import { type Catalog, type Column, DECODED_COLUMNS, refusedColumns } from '../pass/catalog.js';
import { type Load, type LoadDeps, type LoadOptions, loadCatalog, loadRunData, type StatementOptions } from '../pass/load.js';
import type { RunData } from '../pass/run-data.js';
import { Assembler, type KeptSections } from '../stats/assemble.js';
import { type PayloadPart, planSections } from '../stats/sections.js';

/** The catalog as a phase sees it: the columns refused, each with why, and the statements it took. */
export type CheckedCatalog =
  | { readonly catalog: Catalog; readonly refused: ReadonlyMap<Column, Error>; readonly statements: number; readonly ms: number }
  | {
      readonly catalog: null;
      /** Why it could not be read, as thrown. */
      readonly error: unknown;
      /** Every column, with that reason: nothing is decoded unchecked. */
      readonly refused: ReadonlyMap<Column, Error>;
      readonly statements: number;
      readonly ms: number;
    };

/** Payload parts to compute, each group at its own instant (the drift check's are the API's). */
export type PartGroups = ReadonlyArray<{ readonly parts: readonly PayloadPart[]; readonly at: Date }>;

/** The debug line of each statement as it ends, and the warning of each retry. */
export function statementLogs(logger: Logger): Pick<StatementOptions, 'observe' | 'onRetry'> {
  return {
    observe: (query, ms, error, bytes) =>
      logger.debug({ query, ms: Math.round(ms), ...(bytes === undefined ? {} : { bytes }) }, error ? 'query failed' : 'query done'),
    onRetry: (query, attempt, delayMs, error) => logger.warn({ query, attempt, delay_ms: delayMs, err: error }, 'query retried'),
  };
}

/** Reads the catalog and refuses the columns the pass cannot decode; never throws. */
export async function checkCatalog(deps: LoadDeps, options: StatementOptions, secrets: readonly string[] = []): Promise<CheckedCatalog> {
  const read = await loadCatalog(deps.db, options);
  if (read.catalog !== null) return { catalog: read.catalog, refused: refusedColumns(read.catalog), statements: read.statements, ms: read.ms };
  const cause = new Error(`query catalog failed: ${errorMessage(read.error, secrets)}`);
  const refused = new Map(Object.keys(DECODED_COLUMNS).map((column) => [column as Column, cause]));
  return { catalog: null, error: read.error, refused, statements: read.statements, ms: read.ms };
}

/**
 * Plans the sections of `groups` (leaving out those reading a refused column) and loads what
 * they read; its statements and their time count the catalog's too: all PostgreSQL was sent.
 * Never throws.
 */
export async function loadSections(groups: PartGroups, catalog: CheckedCatalog, deps: LoadDeps, options: LoadOptions): Promise<Load> {
  const load = await loadRunData(planSections(groups, catalog.refused), deps, options);
  return { ...load, statements: catalog.statements + load.statements, ms: catalog.ms + load.ms };
}

/** Assemblers over what was loaded, one per instant asked for (`kept`: section texts kept between runs, rows in memory). */
export function assemblerOf(data: RunData, catalog: CheckedCatalog, kept?: KeptSections): (at: Date) => Assembler {
  return (at) => new Assembler(data, at, catalog.refused, kept);
}
