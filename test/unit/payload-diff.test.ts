/**
 * The drift comparison on the API's own entries (the golden fixture), changed the ways the
 * API's code really changed, and changed the ways data churn changes them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JsonNumber, type JsonNode, parseJsonTree } from '../../src/lib/json-tree.js';
import { shapeDifferences, universesOf, valueDifferences } from '../../src/stats/payload-diff.js';
import { GOLDEN_EXPECTED } from '../helpers/golden.js';

/** The golden fixture's script slugs: the names our rules produce come from them. */
const SLUGS = [
  ...readFileSync(new URL('../fixtures/golden/database.sql', import.meta.url), 'utf8').matchAll(
    /^\t\('[0-9a-f-]{36}', '[^']*', '([^']+)', 'Trends\.Earth script/gm,
  ),
].map((match) => match[1]!);
const UNIVERSES = universesOf(SLUGS);

const EXECUTIONS = 'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=none';
const USERS = 'stats_service:get_user_stats:country=none_group_by=month_period=last_year';
const DASHBOARD = 'stats_service:get_dashboard_stats:include=geographic,summary,tasks,trends_period=all';

const tree = (key: string) => parseJsonTree(GOLDEN_EXPECTED[key]!.raw);
const object = (node: JsonNode) => node as Map<string, JsonNode>;
const array = (node: JsonNode) => node as JsonNode[];

it('reads the fixture\'s slugs', () => {
  expect(SLUGS.length).toBeGreaterThan(20);
  expect(SLUGS).toContain('change-biomass-v1.0.0');
});

describe('parseJsonTree', () => {
  it('keeps ints and floats apart, and the order of keys', () => {
    const parsed = object(parseJsonTree('{"2": 1, "1": 1.0, "b": [true, null, "x"], "e": 1e+16, "n": NaN}'));
    expect([...parsed.keys()]).toEqual(['2', '1', 'b', 'e', 'n']);
    expect((parsed.get('2') as JsonNumber).float).toBe(false);
    expect((parsed.get('1') as JsonNumber).float).toBe(true);
    expect((parsed.get('e') as JsonNumber).float).toBe(true);
    expect(parsed.get('b')).toEqual([true, null, 'x']);
    expect(() => parseJsonTree('{"a": 1,}')).toThrow(/not JSON/);
  });
});

describe('the API\'s own entries', () => {
  it.each(Object.keys(GOLDEN_EXPECTED))('%s: no difference with itself', (key) => {
    expect(shapeDifferences(tree(key), tree(key), UNIVERSES)).toEqual([]);
    expect(valueDifferences(tree(key), tree(key))).toEqual([]);
  });
});

describe('changes the API really made are seen in the shape, whatever the data', () => {
  it('2026-04-02: activity_stats fields renamed', () => {
    const old = tree(USERS);
    object(old).set('activity_stats', parseJsonTree('{"active_last_day": 3, "active_last_week": 10, "active_last_month": 20, "never_executed": 5}'));
    const differences = shapeDifferences(old, tree(USERS), UNIVERSES);
    expect(differences.map((difference) => [difference.kind, difference.path])).toEqual([
      ['structure', 'activity_stats.active_last_day'],
      ['structure', 'activity_stats.active_last_month'],
      ['structure', 'activity_stats.active_last_week'],
      ['structure', 'activity_stats.active_users_countries'],
      ['structure', 'activity_stats.active_users_in_period'],
    ]);
  });

  it('2026-04-02: task slugs normalised (by_task keys, by_type names)', () => {
    const old = parseJsonTree(GOLDEN_EXPECTED[EXECUTIONS]!.raw.replaceAll('"sdg-15-3-1-sub-indicators"', '"sdg-sub-indicators"'));
    const differences = shapeDifferences(old, tree(EXECUTIONS), UNIVERSES);
    expect(differences).toEqual([expect.objectContaining({ kind: 'structure', path: '(task names)', detail: expect.stringContaining('sdg-sub-indicators') })]);
  });

  it('2026-07-28: quarter-hour timestamps lost their +00:00 (seen the other way round too)', () => {
    const withOffset = parseJsonTree(GOLDEN_EXPECTED[EXECUTIONS]!.raw.replace(/"timestamp": "([^"]+)"/g, '"timestamp": "$1+00:00"'));
    expect(shapeDifferences(withOffset, tree(EXECUTIONS), UNIVERSES)).toEqual([
      expect.objectContaining({ kind: 'format', path: 'time_series[].timestamp', detail: expect.stringContaining('with an offset') }),
    ]);
    expect(shapeDifferences(tree(EXECUTIONS), withOffset, UNIVERSES).map((difference) => difference.kind)).toEqual(['format']);
  });

  it('2025-10-31: the geographic section went from top_countries to countries plus total_users', () => {
    const old = tree(DASHBOARD);
    object(old).set('geographic', parseJsonTree('{"top_countries": [{"country": "Kenya", "count": 3}]}'));
    const paths = shapeDifferences(old, tree(DASHBOARD), UNIVERSES).map((difference) => difference.path);
    expect(paths).toEqual(expect.arrayContaining(['geographic.top_countries', 'geographic.countries', 'geographic.total_users']));
  });

  it('a field added, an int that became a float', () => {
    const added = tree(USERS);
    object(object(added).get('activity_stats')!).set('inactive', new JsonNumber('4'));
    expect(shapeDifferences(added, tree(USERS), UNIVERSES)).toEqual([expect.objectContaining({ path: 'activity_stats.inactive' })]);
    const floats = parseJsonTree(GOLDEN_EXPECTED[USERS]!.raw.replace(/"new_users": (\d+)/g, '"new_users": $1.0'));
    expect(shapeDifferences(floats, tree(USERS), UNIVERSES)).toEqual([
      expect.objectContaining({ kind: 'structure', path: 'registration_trends[].new_users', detail: "the API's is float, ours int" }),
    ]);
  });
});

describe('data churn is not a difference of shape', () => {
  it('a series that gained buckets and statuses, counts that moved, a top list reordered', () => {
    const churned = tree(EXECUTIONS);
    const series = array(object(churned).get('time_series')!);
    series.push(parseJsonTree('{"timestamp": "2026-06-16T00:00:00", "total": 1, "by_status": {"RUNNING": 1}, "by_task": {"productivity": 1}}'));
    object(series[0]!).set('total', new JsonNumber('99'));
    object(object(series[0]!).get('by_status')!).set('CANCELLED', new JsonNumber('3'));
    array(object(churned).get('top_users')!).reverse();
    expect(shapeDifferences(tree(EXECUTIONS), churned, UNIVERSES)).toEqual([]);
    // The values do differ, and say where, aligned by bucket.
    const values = valueDifferences(tree(EXECUTIONS), churned, 10);
    expect(values.map((difference) => difference.path)).toEqual(
      expect.arrayContaining(['time_series[2026-06-08T13:00:00].total', 'time_series[2026-06-08T13:00:00].by_status[CANCELLED]', 'time_series[2026-06-16T00:00:00]']),
    );
  });

  it('an empty series on one side compares nothing below it', () => {
    const empty = tree(EXECUTIONS);
    object(empty).set('time_series', []);
    expect(shapeDifferences(empty, tree(EXECUTIONS), UNIVERSES)).toEqual([]);
  });

  it('a null where the other side has a value is no difference of type', () => {
    const undated = tree(USERS);
    array(object(undated).get('registration_trends')!).push(parseJsonTree('{"date": null, "new_users": 1, "total_users": 100}'));
    expect(shapeDifferences(undated, tree(USERS), UNIVERSES)).toEqual([]);
  });
});

describe('values', () => {
  it('a top list cut at ten: members tied at its lowest count are PostgreSQL\'s choice, not a difference', () => {
    const user = (id: string, count: number) => `{"user_id": "${id}", "email": "x", "execution_count": ${count}, "success_rate": 50.0, "favorite_tasks": []}`;
    const top = (ids: string[]) => parseJsonTree(`{"top_users": [${ids.map((id, index) => user(id, index < 8 ? 20 - index : 5)).join(', ')}]}`);
    const ours = top(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect(valueDifferences(top(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'x', 'y']), ours)).toEqual([]);
    // A member above the tie that differs is a difference; its id is not shown.
    expect(valueDifferences(top(['z', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']), ours).map((difference) => difference.path)).toEqual([
      'top_users[…]',
      'top_users[…]',
    ]);
  });

  it('a number that differs says both', () => {
    const changed = parseJsonTree(GOLDEN_EXPECTED[USERS]!.raw.replace('"never_executed": ', '"never_executed": 1'));
    const [difference] = valueDifferences(changed, tree(USERS));
    expect(difference).toMatchObject({ kind: 'values', path: 'activity_stats.never_executed' });
  });
});
