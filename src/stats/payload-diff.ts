/**
 * Comparing a payload the API stored with the one stats-refresh computes for the same
 * request, to notice when the API's code no longer computes what ours does (drift) without
 * mistaking the data changing in between (churn) for it. Two comparisons:
 *
 * - **shape**, churn-proof: the paths present under containers both sides have, each path's
 *   JSON types (int and float apart), the formats of its strings (a timestamp with or
 *   without an offset, a date, a month), and the names of tasks, versions and statuses,
 *   which must be ones our rules produce from the script table. Arrays are read element by
 *   element, so a series that gained a bucket keeps its shape.
 * - **values**, exact, meaningful only when the data provably did not change (the caller
 *   decides): series aligned by their bucket, ranked lists by their members' ids (ties at
 *   a list's cut are left out, their order and membership being PostgreSQL's choice), and
 *   objects keyed by names compared as maps.
 */
import type { Difference } from '../io/drift-store.js';
import { compareText } from '../lib/compare.js';
import { JsonNumber, type JsonNode } from '../lib/json-tree.js';
import { majorVersion, parseSlug, taskName } from '../lib/slug.js';
import { STATUSES } from '../requests/request.js';
import { TOP_TASKS, TOP_VERSIONS } from './dashboard.js';
import { NULL_STATUS } from './executions.js';
import { TOP_USERS_LIMIT } from './sections.js';

export type { Difference };

type NameCategory = 'task' | 'status' | 'version' | 'majorVersion';

/** The names our rules produce, per category. */
export type Universes = Readonly<Record<NameCategory, ReadonlySet<string>>>;

/**
 * The statuses any payload may show whatever the data: those the API's status filter accepts,
 * READY (its model has it, but its routes refuse it as a filter), and the name of a NULL one.
 */
const KNOWN_STATUSES = [...STATUSES, 'READY', NULL_STATUS];

/**
 * The names our rules produce from the script table's slugs, and the statuses a payload may
 * show: the known ones and those the executions hold (a status the code never heard of, say
 * QUEUED, is data, not drift).
 */
export function universesOf(slugs: readonly string[], statuses: Iterable<string> = []): Universes {
  return {
    task: new Set(['unknown', ...slugs.map((slug) => taskName(slug))]),
    version: new Set(slugs.map((slug) => parseSlug(slug).version)),
    majorVersion: new Set(['unknown', ...slugs.map((slug) => majorVersion(slug))]),
    status: new Set([...KNOWN_STATUSES, ...statuses]),
  };
}

/** Objects whose keys are names from the data, not fields; with the category their names belong to. */
const NAME_KEYED: Readonly<Record<string, NameCategory | null>> = {
  'time_series[].by_status': 'status',
  'time_series[].by_task': 'task',
  'geographic.countries': null,
  'geographic_distribution.countries': null,
  countries: null,
};

/** Strings that are names of a category. */
const NAME_VALUES: Readonly<Record<string, NameCategory>> = {
  'tasks.by_type[].task': 'task',
  'task_performance[].task': 'task',
  'top_users[].favorite_tasks[]': 'task',
  'tasks.by_version[].version': 'majorVersion',
  'task_performance[].versions[].version': 'version',
};

/** Values whose JSON type follows the data: a decimal string, or 0 (0.0) when every duration is zero. */
const POLYMORPHIC = new Set(['task_performance[].avg_duration_minutes', 'task_performance[].versions[].avg_duration_minutes']);

/** Lists ordered by a count, where equal counts come in PostgreSQL's order; `limit`: cut after so many. */
const RANKED: Readonly<Record<string, { readonly count: string; readonly id: string; readonly limit: number | null }>> = {
  top_users: { count: 'execution_count', id: 'user_id', limit: TOP_USERS_LIMIT },
  'tasks.by_type': { count: 'count', id: 'task', limit: TOP_TASKS },
  'tasks.by_version': { count: 'count', id: 'version', limit: TOP_VERSIONS },
  task_performance: { count: 'total_executions', id: 'task', limit: null },
};

/** Fields that name a series' bucket: series are aligned by them. */
const BUCKET_FIELDS = ['timestamp', 'hour', 'date', 'month'];

function typeOf(node: JsonNode): string {
  if (node === null) return 'null';
  if (node instanceof JsonNumber) return node.float ? 'float' : 'int';
  if (Array.isArray(node)) return 'array';
  if (node instanceof Map) return 'object';
  return typeof node;
}

function formatOf(text: string): string {
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(text)) return 'date and time';
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)$/.test(text)) return 'date and time with an offset';
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}\.\d+$/.test(text)) return 'date and time with a fraction';
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return 'date';
  if (/^\d{4}-\d{2}$/.test(text)) return 'month';
  if (/^-?\d+\.\d+$/.test(text)) return 'decimal';
  return 'text';
}

/** What a payload shows at each path: JSON types, string formats, object keys; and the names it uses. */
interface Shape {
  readonly types: Map<string, Set<string>>;
  readonly formats: Map<string, Set<string>>;
  readonly names: Map<NameCategory, Set<string>>;
}

function shapeOf(root: JsonNode): Shape {
  const shape: Shape = { types: new Map(), formats: new Map(), names: new Map() };
  const add = (map: Map<string, Set<string>>, path: string, item: string) => map.set(path, (map.get(path) ?? new Set()).add(item));
  const name = (category: NameCategory, value: string) =>
    shape.names.set(category, (shape.names.get(category) ?? new Set()).add(value));
  const walk = (node: JsonNode, path: string) => {
    add(shape.types, path, typeOf(node));
    if (typeof node === 'string') {
      const category = NAME_VALUES[path];
      if (category) name(category, node);
      else add(shape.formats, path, formatOf(node));
    } else if (Array.isArray(node)) {
      for (const item of node) walk(item, `${path}[]`);
    } else if (node instanceof Map) {
      if (path in NAME_KEYED) {
        const category = NAME_KEYED[path];
        for (const [key, item] of node) {
          if (category) name(category, key);
          walk(item, `${path}{}`);
        }
      } else {
        for (const [key, item] of node) walk(item, path === '' ? key : `${path}.${key}`);
      }
    }
  };
  walk(root, '');
  return shape;
}

/** The container a path's values sit in: its object, array or name-keyed object ('' for the root's fields). */
function parentOf(path: string): string | null {
  if (path === '') return null;
  if (path.endsWith('[]')) return path.slice(0, -2);
  if (path.endsWith('{}')) return path.slice(0, -2);
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

/** Whether both payloads hold a non-null value at `path`'s container (so the path can be compared there). */
function comparableIn(path: string, api: Shape, ours: Shape): boolean {
  const parent = parentOf(path);
  if (parent === null) return true;
  const present = (shape: Shape) => [...(shape.types.get(parent) ?? [])].some((type) => type !== 'null');
  return present(api) && present(ours);
}

const list = (items: Iterable<string>) => [...items].sort(compareText).join(', ');

/** Differences of shape: churn cannot cause these. */
export function shapeDifferences(api: JsonNode, ours: JsonNode, universes: Universes): Difference[] {
  const theirs = shapeOf(api);
  const own = shapeOf(ours);
  const differences: Difference[] = [];
  const paths = [...new Set([...theirs.types.keys(), ...own.types.keys()])].sort(compareText);
  for (const path of paths) {
    if (!comparableIn(path, theirs, own)) continue;
    const apiTypes = new Set([...(theirs.types.get(path) ?? [])].filter((type) => type !== 'null'));
    const ourTypes = new Set([...(own.types.get(path) ?? [])].filter((type) => type !== 'null'));
    const shown = path === '' ? '(the payload)' : path;
    // Whether a list or a name-keyed object has items is the data's business, not the shape's.
    const element = path.endsWith('[]') || path.endsWith('{}');
    if (!theirs.types.has(path) && !element) {
      differences.push({ kind: 'structure', path: shown, detail: "missing in the API's payload" });
    } else if (!own.types.has(path) && !element) {
      differences.push({ kind: 'structure', path: shown, detail: 'not in the payload stats-refresh computes' });
    } else if (apiTypes.size > 0 && ourTypes.size > 0 && !POLYMORPHIC.has(path) && list(apiTypes) !== list(ourTypes)) {
      differences.push({ kind: 'structure', path: shown, detail: `the API's is ${list(apiTypes)}, ours ${list(ourTypes)}` });
    }
    const apiFormats = theirs.formats.get(path);
    const ourFormats = own.formats.get(path);
    if (apiFormats && ourFormats) {
      const foreign = [...apiFormats].filter((format) => !ourFormats.has(format));
      if (foreign.length > 0) {
        differences.push({ kind: 'format', path: shown, detail: `the API writes ${list(foreign)}; ours ${list(ourFormats)}` });
      }
    }
  }
  for (const [category, names] of theirs.names) {
    const unknown = [...names].filter((name) => !universes[category].has(name));
    if (unknown.length > 0) {
      differences.push({
        kind: 'structure',
        path: `(${category} names)`,
        detail: `${unknown.length} the API shows that stats-refresh's rules do not produce from the script table: ${list(unknown.slice(0, 3))}`,
      });
    }
  }
  return differences;
}

function fieldOf(node: JsonNode, name: string): JsonNode | undefined {
  return node instanceof Map ? node.get(name) : undefined;
}

function scalarText(node: JsonNode | undefined): string {
  if (node === undefined) return 'absent';
  if (node instanceof JsonNumber) return node.text;
  return typeof node === 'string' ? 'text' : JSON.stringify(node);
}

/** The elements of a list by a key (a bucket, an id); null when some element has none or two share one. */
function byField(items: readonly JsonNode[], field: string): Map<string, JsonNode> | null {
  const keyed = new Map<string, JsonNode>();
  for (const item of items) {
    const key = fieldOf(item, field);
    const text = key === null ? 'null' : typeof key === 'string' ? key : key instanceof JsonNumber ? key.text : undefined;
    if (text === undefined || keyed.has(text)) return null;
    keyed.set(text, item);
  }
  return keyed;
}

/** Differences of value, at most `limit` of them listed. */
export function valueDifferences(api: JsonNode, ours: JsonNode, limit = 5): Difference[] {
  const differences: Difference[] = [];
  const differ = (shown: string, detail: string) => {
    if (differences.length < limit) differences.push({ kind: 'values', path: shown || '(the payload)', detail });
  };
  /** Compares the items of two lists or maps by key; `rule` is the items' path in the rules, `shown` the container's. */
  const compareKeyed = (theirs: Map<string, JsonNode>, own: Map<string, JsonNode>, rule: string, shown: string, secret = false) => {
    for (const key of new Set([...theirs.keys(), ...own.keys()])) {
      const at = `${shown}[${secret ? '…' : key}]`;
      if (!own.has(key)) differ(at, "only in the API's payload");
      else if (!theirs.has(key)) differ(at, 'only in the payload stats-refresh computes');
      else compare(theirs.get(key)!, own.get(key)!, rule, at);
    }
  };
  const compareRanked = (theirs: JsonNode[], own: JsonNode[], rule: string, shown: string) => {
    const { count, id, limit: cut } = RANKED[rule]!;
    const countOf = (item: JsonNode) => scalarText(fieldOf(item, count));
    const counts = (items: JsonNode[]) => items.map(countOf).sort(compareText).join(' ');
    if (counts(theirs) !== counts(own)) return differ(shown, `counts differ: the API's ${counts(theirs) || 'none'}; ours ${counts(own) || 'none'}`);
    // At a full list, the members tied at its lowest count may differ: PostgreSQL chose them.
    const lowest = Math.min(...own.map((item) => Number(countOf(item))));
    const full = cut !== null && own.length === cut;
    const members = (items: JsonNode[]) => items.filter((item) => !full || Number(countOf(item)) > lowest);
    const theirsById = byField(members(theirs), id);
    const ownById = byField(members(own), id);
    if (!theirsById || !ownById) return differ(shown, `members without a distinct ${id}`);
    compareKeyed(theirsById, ownById, `${rule}[]`, shown, id === 'user_id');
  };
  const compare = (theirs: JsonNode, own: JsonNode, rule: string, shown: string): void => {
    if (typeOf(theirs) !== typeOf(own)) return differ(shown, 'different types');
    if (Array.isArray(theirs) && Array.isArray(own)) {
      if (rule in RANKED) return compareRanked(theirs, own, rule, shown);
      // Series are aligned by their bucket: one that gained or lost a bucket says which.
      const bucket = BUCKET_FIELDS.find((field) => theirs.length + own.length > 0 && theirs.concat(own).every((item) => fieldOf(item, field) !== undefined));
      const theirsByBucket = bucket ? byField(theirs, bucket) : null;
      const ownByBucket = bucket ? byField(own, bucket) : null;
      if (theirsByBucket && ownByBucket) return compareKeyed(theirsByBucket, ownByBucket, `${rule}[]`, shown);
      if (theirs.length !== own.length) return differ(shown, `the API's has ${theirs.length} items, ours ${own.length}`);
      theirs.forEach((item, index) => compare(item, own[index]!, `${rule}[]`, `${shown}[${index}]`));
      return;
    }
    if (theirs instanceof Map && own instanceof Map) {
      if (rule in NAME_KEYED) return compareKeyed(theirs, own, `${rule}{}`, shown);
      for (const key of new Set([...theirs.keys(), ...own.keys()])) {
        const nested = rule === '' ? key : `${rule}.${key}`;
        const at = shown === '' ? key : `${shown}.${key}`;
        if (!own.has(key)) differ(at, "only in the API's payload");
        else if (!theirs.has(key)) differ(at, 'only in the payload stats-refresh computes');
        else compare(theirs.get(key)!, own.get(key)!, nested, at);
      }
      return;
    }
    if (theirs instanceof JsonNumber && own instanceof JsonNumber) {
      if (theirs.text !== own.text) differ(shown, `the API's ${theirs.text}, ours ${own.text}`);
    } else if (theirs !== own) {
      differ(shown, 'different values');
    }
  };
  compare(api, ours, '', '');
  return differences;
}
