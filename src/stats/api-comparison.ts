/**
 * Each payload the API wrote against ours for the same request, built at both ends of the
 * window its value may stem from: the differences of shape, and of values when ours is the
 * same at both ends. A value that is no stats payload at all (not JSON, not an object) is a
 * problem, not a difference. Pure: ours is built from the run's data.
 */
import type { Difference } from '../io/drift-store.js';
import { errorMessage } from '../lib/errors.js';
import { parseJsonTree, type JsonNode } from '../lib/json-tree.js';
import type { RunData } from '../pass/run-data.js';
import type { ApiEntry } from './api-entries.js';
import type { Assembler } from './assemble.js';
import { shapeDifferences, type Universes, universesOf, valueDifferences } from './payload-diff.js';

export interface Comparison {
  readonly entry: ApiEntry;
  /** Whether ours could be built and the shapes compared. */
  readonly compared: boolean;
  readonly shape: readonly Difference[];
  /** null: the values could not be compared (why says why). */
  readonly values: readonly Difference[] | null;
  readonly why: string | null;
  /** The API's value is no stats payload (not JSON, not an object): nothing the API's code writes. */
  readonly problem: string | null;
}

/** The API's value as a payload: a JSON object, or what it is instead. */
function payloadOf(value: string): { tree: JsonNode } | { problem: string } {
  let tree: JsonNode;
  try {
    tree = parseJsonTree(value);
  } catch (error) {
    return { problem: `its value is no stats payload (${errorMessage(error)})` };
  }
  return tree instanceof Map ? { tree } : { problem: 'its value is no stats payload (JSON, but not an object)' };
}

/**
 * The statuses the executions hold; none when the pass was not planned or failed: a payload
 * that shows statuses is built from the pass, so it is then not compared at all.
 */
function statusesOf(data: RunData): readonly string[] {
  try {
    return data.executionStatuses();
  } catch {
    return [];
  }
}

/** Compares every entry with ours; `assemblerAt` builds ours at an instant from the run's data. */
export function compareEntries(entries: readonly ApiEntry[], data: RunData, now: Date, assemblerAt: (at: Date) => Assembler): Comparison[] {
  const assemblers = new Map<number, Assembler>();
  const at = (instant: Date) => {
    let assembler = assemblers.get(instant.getTime());
    if (!assembler) assemblers.set(instant.getTime(), (assembler = assemblerAt(instant)));
    return assembler;
  };
  let universes: Universes | null = null;
  return entries.map((entry): Comparison => {
    const none = { entry, shape: [], values: null };
    const api = payloadOf(entry.value);
    if ('problem' in api) return { ...none, compared: false, why: null, problem: api.problem };
    let high: string;
    let low: string | null = null;
    try {
      high = at(entry.instants?.hi ?? now).parts(entry.parts);
      if (entry.instants) low = at(entry.instants.lo).parts(entry.parts);
      universes ??= universesOf(data.scriptSlugs(), statusesOf(data));
    } catch (error) {
      return { ...none, compared: false, why: `not comparable: ${errorMessage(error)}`, problem: null };
    }
    const shape = shapeDifferences(api.tree, parseJsonTree(high), universes);
    const compared = { entry, compared: true, shape, problem: null };
    if (!entry.instants) return { ...compared, values: null, why: "values not comparable: its expiry does not say when the API computed it" };
    if (low !== high) return { ...compared, values: null, why: 'values not comparable: the data moved within the window its value may stem from' };
    return { ...compared, values: valueDifferences(api.tree, parseJsonTree(high)), why: null };
  });
}
