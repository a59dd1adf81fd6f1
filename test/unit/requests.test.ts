import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveTargets } from '../../src/run/targets.js';
import { activeLearned } from '../../src/io/learned.js';
import { parseBatchFile } from '../../src/requests/batch-file.js';
import type { StatsRequest } from '../../src/requests/batches.js';
import { payloadKey } from '../../src/requests/request-keys.js';
import { familyOfKey, parsePayloadKey, splitParameters } from '../../src/requests/key-parser.js';
import { normalizeUserGroupBy, parseRequest, parseTarget, pyStrip, RequestError } from '../../src/requests/request.js';
import { PERIODS } from '../../src/lib/time.js';

/** The config a request makes, any family's fields readable (the test knows which family it asked). */
const parsedRequest = (text: string) => parseRequest(text).request as StatsRequest & Record<string, unknown>;
const refused = (text: string) => {
  try {
    parseRequest(text);
  } catch (error) {
    expect(error).toBeInstanceOf(RequestError);
    return (error as Error).message;
  }
  throw new Error(`${text} was accepted`);
};

describe('targets', () => {
  it('reads family names and all as batches', () => {
    expect(parseTarget('all')).toEqual({ kind: 'families', families: ['dashboard', 'executions', 'users'] });
    expect(parseTarget(' users ')).toEqual({ kind: 'families', families: ['users'] });
  });

  it('reads a request with or without its path, or as a whole URL', () => {
    const expected = parsedRequest('executions?period=last_week');
    for (const text of [
      '/stats/executions?period=last_week',
      'stats/executions?period=last_week',
      '/api/v1/stats/executions?period=last_week',
      'https://api.trends.earth/api/v1/stats/executions?period=last_week',
      'http://localhost:3000/api/v1/stats/executions/?period=last_week#top',
    ]) {
      expect(parsedRequest(text), text).toEqual(expected);
    }
    expect(parseTarget('/stats/users')).toMatchObject({ kind: 'request', request: { family: 'users', period: 'last_year' } });
  });

  it('refuses what is neither, naming what it expects', () => {
    expect(() => parseTarget('dashbaord')).toThrow(/unknown target "dashbaord"; expected dashboard, executions, users, all or a request/);
    expect(() => parseTarget('/stats/health')).toThrow(/"\/stats\/health" is not a stats endpoint/);
    expect(() => parseTarget('/stats/constructor?x=1')).toThrow(/not a stats endpoint/);
    expect(() => parseTarget('/v2/stats/users?x=1')).toThrow(/not a stats endpoint/);
  });
});

describe('the API defaults', () => {
  it('dashboard: all periods, all four sections', () => {
    expect(parsedRequest('dashboard?')).toEqual({ family: 'dashboard', period: 'all', include: ['summary', 'trends', 'geographic', 'tasks'] });
  });
  it('executions: last_month by day, no filters', () => {
    expect(parsedRequest('executions?')).toEqual({ family: 'executions', period: 'last_month', groupBy: 'day', status: null, taskType: null });
  });
  it('users: last_year by month, no country', () => {
    expect(parsedRequest('users?')).toEqual({ family: 'users', period: 'last_year', groupBy: 'month', country: null });
  });
  it('give the keys the API uses for its defaults', () => {
    expect(payloadKey(parsedRequest('dashboard?'))).toBe('stats_service:get_dashboard_stats:include=geographic,summary,tasks,trends_period=all');
    expect(payloadKey(parsedRequest('executions?'))).toBe('stats_service:get_execution_stats:group_by=day_period=last_month_status=none_task_type=none');
    expect(payloadKey(parsedRequest('users?'))).toBe('stats_service:get_user_stats:country=none_group_by=month_period=last_year');
  });
});

describe('query strings, decoded as the API decodes them', () => {
  it('reads + as a space and %XX as UTF-8', () => {
    expect(parsedRequest('users?country=United+States').country).toBe('United States');
    expect(parsedRequest('users?country=United%20States').country).toBe('United States');
    expect(parsedRequest('users?country=C%C3%B4te%20d%27Ivoire').country).toBe("Côte d'Ivoire");
    expect(parsedRequest('executions?task_type=a%26b%3Dc').taskType).toBe('a&b=c');
  });

  it('takes the first value of a repeated parameter', () => {
    expect(parsedRequest('executions?period=last_week&period=all').period).toBe('last_week');
  });

  it('reads a parameter without = as empty (an empty filter is none)', () => {
    expect(parsedRequest('executions?status').status).toBeNull();
    expect(parsedRequest('executions?task_type=').taskType).toBeNull();
    expect(parsedRequest('users?country=').country).toBeNull();
  });

  it('reports parameters the endpoint does not read (the API ignores them)', () => {
    expect(parseRequest('executions?group-by=hour&period=all&country=Kenya').ignored).toEqual(['group-by', 'country']);
    expect(parseRequest('users?country=Kenya').ignored).toEqual([]);
  });
});

describe('dashboard validation', () => {
  it('refuses a bad period with the API message', () => {
    expect(refused('dashboard?period=forever')).toBe('Invalid period. Must be one of: last_day, last_week, last_month, last_year, all');
    expect(refused('dashboard?period=')).toMatch(/^Invalid period/);
    expect(refused('dashboard?period=ALL')).toMatch(/^Invalid period/);
  });

  it('strips spaces around include items as Python does, and names the bad ones', () => {
    expect(parsedRequest('dashboard?include=summary,%20geographic,tasks').include).toEqual(['summary', 'geographic', 'tasks']);
    expect(parsedRequest('dashboard?include=%E3%80%80trends%1C').include).toEqual(['trends']);
    expect(refused('dashboard?include=summary,charts,maps')).toBe('Invalid sections: charts, maps. Valid sections: summary, trends, geographic, tasks');
    expect(refused('dashboard?include=')).toBe('Invalid sections: . Valid sections: summary, trends, geographic, tasks');
    expect(refused('dashboard?include=summary,')).toMatch(/^Invalid sections: \. /);
    // A byte-order mark is not whitespace to Python.
    expect(refused('dashboard?include=%EF%BB%BFsummary')).toMatch(/^Invalid sections/);
  });

  it('keeps repeated sections in the key, as the API sorts and joins them', () => {
    const repeated = parsedRequest('dashboard?include=tasks,summary,tasks');
    expect(payloadKey(repeated)).toBe('stats_service:get_dashboard_stats:include=summary,tasks,tasks_period=all');
  });

  it('pyStrip is Python’s str.strip()', () => {
    expect(pyStrip(' \t\n\v\f\r\x1c\x1d\x1e\x1f\x85\xa0\u2000\u3000x y\u2028\u2029')).toBe('x y');
    expect(pyStrip('\ufeffx')).toBe('\ufeffx');
  });
});

describe('executions validation', () => {
  it('group_by is exact: no aliases, no case folding', () => {
    expect(parsedRequest('executions?group_by=quarter_hour').groupBy).toBe('quarter_hour');
    expect(refused('executions?group_by=15min')).toBe('Invalid group_by. Must be one of: quarter_hour, hour, day, week, month');
    expect(refused('executions?group_by=Day')).toMatch(/^Invalid group_by/);
  });

  it('checks the period before group_by, as the route does', () => {
    expect(refused('executions?period=x&group_by=y')).toMatch(/^Invalid period/);
  });

  it('status: one of five, exact; empty is none', () => {
    for (const status of ['PENDING', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELLED']) expect(parsedRequest(`executions?status=${status}`).status).toBe(status);
    expect(refused('executions?status=READY')).toBe('Invalid status. Must be one of: PENDING, RUNNING, FINISHED, FAILED, CANCELLED');
    expect(refused('executions?status=failed')).toMatch(/^Invalid status/);
    expect(parsedRequest('executions?status=').status).toBeNull();
  });

  it('task_type is free text, kept as given (LIKE wildcards included)', () => {
    expect(parsedRequest('executions?task_type=sdg_15%25').taskType).toBe('sdg_15%');
    expect(payloadKey(parsedRequest('executions?task_type=land%20cover'))).toBe(
      'stats_service:get_execution_stats:group_by=day_period=last_month_status=none_task_type=land cover',
    );
  });

  it('refuses task_type=none: its key is the unfiltered request’s', () => {
    expect(refused('executions?task_type=none')).toMatch(/^task_type=none is stored by the API under the key of the request without task_type/);
    expect(parsedRequest('executions?task_type=None').taskType).toBe('None');
  });
});

describe('users validation', () => {
  it.each([
    ['15min', 'quarter_hour'],
    ['15_MIN', 'quarter_hour'],
    ['15-minute', 'quarter_hour'],
    ['15-min', 'quarter_hour'],
    ['QuarterHour', 'quarter_hour'],
    ['Quarter-Hour', 'quarter_hour'],
    ['quarter_hour', 'quarter_hour'],
    ['MONTH', 'month'],
    ['', 'day'],
    ['wee\u212a', 'week'], // KELVIN SIGN lower-cases to k, in Python as in JavaScript
  ])('normalises group_by %j to %s', (raw, expected) => {
    expect(normalizeUserGroupBy(raw)).toBe(expected);
    expect(parsedRequest(`users?group_by=${encodeURIComponent(raw)}`).groupBy).toBe(expected);
  });

  it('refuses other group_by values and bad periods with the API messages', () => {
    expect(refused('users?group_by=weekly')).toBe('Invalid group_by. Must be one of: quarter_hour, hour, day, week, month');
    expect(refused('users?period=last_decade&group_by=weekly')).toMatch(/^Invalid period/);
  });

  it('country is exact, spaces and all; none is refused', () => {
    expect(parsedRequest('users?country=%20Kenya').country).toBe(' Kenya');
    expect(refused('users?country=none')).toMatch(/^country=none is stored by the API/);
    expect(payloadKey(parsedRequest('users?group_by=15min&country=United%20States&period=last_week'))).toBe(
      'stats_service:get_user_stats:country=United States_group_by=quarter_hour_period=last_week',
    );
  });
});

describe('keys parsed back', () => {
  const taskTypes = [null, 'sdg', 'land_cover', 'a=b', 'x_period=all', 'two words', 'ñandú', 'task_type=none', '_', '%'];
  const countries = [null, 'Kenya', 'United States', 'Côte d’Ivoire', 'a_group_by=day', '=', '日本'];
  const configs: StatsRequest[] = [
    ...PERIODS.flatMap((period) => [
      { family: 'dashboard' as const, period, include: ['summary' as const] },
      { family: 'dashboard' as const, period, include: ['geographic' as const, 'summary' as const, 'tasks' as const, 'trends' as const] },
      { family: 'dashboard' as const, period, include: ['tasks' as const, 'tasks' as const] },
    ]),
    ...PERIODS.flatMap((period) =>
      (['quarter_hour', 'hour', 'day', 'week', 'month'] as const).flatMap((groupBy) =>
        [null, 'FAILED'].flatMap((status) => taskTypes.map((taskType) => ({ family: 'executions' as const, period, groupBy, status, taskType }))),
      ),
    ),
    ...PERIODS.flatMap((period) =>
      (['quarter_hour', 'day', 'month'] as const).flatMap((groupBy) => countries.map((country) => ({ family: 'users' as const, period, groupBy, country }))),
    ),
  ];

  it(`round-trips every accepted parameter (${configs.length} requests), values with _, =, spaces and non-ASCII included`, () => {
    for (const original of configs) {
      const key = payloadKey(original);
      const parsed = parsePayloadKey(key);
      expect(parsed, key).not.toBeNull();
      expect(payloadKey(parsed!), key).toBe(key);
      if (original.family !== 'dashboard') expect(parsed, key).toEqual(original);
    }
  });

  it('ignores keys that are not one valid request', () => {
    for (const key of [
      'stats_service:_get_summary_stats:period=all',
      'stats_service:get_dashboard_stats:period=all',
      'stats_service:get_dashboard_stats:include=trends,summary_period=all', // not sorted: the API never writes it
      'stats_service:get_dashboard_stats:include=charts_period=all',
      'stats_service:get_dashboard_stats:include=summary_period=forever',
      'stats_service:get_execution_stats:group_by=15min_period=all_status=none_task_type=none',
      'stats_service:get_execution_stats:group_by=day_period=all_status=READY_task_type=none',
      'stats_service:get_execution_stats:group_by=day_period=all_status=none',
      'stats_service:get_execution_stats:group_by=day_period=all_extra=1_status=none_task_type=none',
      'stats_service:get_user_stats:country=none_group_by=15min_period=all', // the API normalises before keying
      'stats_service:get_user_stats:country=none_group_by=month',
      'stats_refresh:learned',
    ]) {
      expect(parsePayloadKey(key), key).toBeNull();
    }
  });

  it('a task_type that ends like a later parameter is still read one way only', () => {
    const key = 'stats_service:get_execution_stats:group_by=day_period=all_status=none_task_type=a_task_type=b';
    expect(parsePayloadKey(key)).toEqual({ family: 'executions', period: 'all', groupBy: 'day', status: null, taskType: 'a_task_type=b' });
  });

  it('splitParameters finds every split', () => {
    expect(splitParameters('a=1_b=2', ['a', 'b'])).toEqual([['1', '2']]);
    expect(splitParameters('a=1_b=2_b=3', ['a', 'b'])).toEqual([['1', '2_b=3'], ['1_b=2', '3']]);
    expect(splitParameters('b=1', ['a', 'b'])).toEqual([]);
  });

  it('names the family of a payload key', () => {
    expect(familyOfKey('stats_service:get_user_stats:country=none_group_by=month_period=all')).toBe('users');
    expect(familyOfKey('stats_service:_get_trends_data:period=all')).toBeNull();
  });
});

describe('batch files', () => {
  it('reads one target a line; blank lines and # comments are ignored', () => {
    const targets = parseBatchFile('# header\n\nexecutions?period=last_week  # hourly view\n  users  \n/stats/dashboard?include=tasks\n', 'batch.txt');
    expect(targets.map((t) => [t.line, t.target.kind])).toEqual([
      [3, 'request'],
      [4, 'families'],
      [5, 'request'],
    ]);
  });

  it('names the file and line of a bad target', () => {
    expect(() => parseBatchFile('users\nexecutions?group_by=15min\n', 'batch.txt')).toThrow(
      'batch.txt:2: Invalid group_by. Must be one of: quarter_hour, hour, day, week, month',
    );
    expect(() => parseBatchFile('\n\nfoo\n', 'b.txt')).toThrow(/^b\.txt:3: unknown target "foo"/);
  });

  it('names the flag or variable of a file it cannot read, and reads only regular files', () => {
    expect(() => resolveTargets([], { path: '/nonexistent/batch.txt', source: 'STATS_REFRESH_BATCH_FILE' })).toThrow(
      'STATS_REFRESH_BATCH_FILE: cannot read /nonexistent/batch.txt (ENOENT: no such file)',
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'batch-'));
    writeFileSync(path.join(dir, 'ok.txt'), 'all\r\n');
    expect(resolveTargets([], { path: path.join(dir, 'ok.txt'), source: '--batch-file' }).families).toHaveLength(3);
    expect(() => resolveTargets([], { path: dir, source: '--batch-file' })).toThrow(`--batch-file: cannot read ${dir} (a folder, not a file)`);
    expect(() => resolveTargets([], { path: '/dev/zero', source: '--batch-file' })).toThrow('--batch-file: cannot read /dev/zero (not a regular file)');
  });
});

describe('resolving the targets of a run', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'targets-'));
  const file = path.join(dir, 'requests.txt');
  writeFileSync(file, 'executions?period=last_week\nusers?country=Kenya\ndashboard\n');
  const batch = { path: file, source: '--batch-file' };

  it('families from names, requests from the API syntax, first come first', () => {
    const targets = resolveTargets(['users', 'executions?status=FAILED', 'all'], null);
    expect(targets.families).toEqual(['dashboard', 'executions', 'users']);
    expect(targets.requests).toEqual([{ family: 'executions', period: 'last_month', groupBy: 'day', status: 'FAILED', taskType: null }]);
  });

  it('a batch file alone gives all its targets', () => {
    const targets = resolveTargets([], batch);
    expect(targets.families).toEqual(['dashboard']);
    expect(targets.requests.map((request) => request.family)).toEqual(['executions', 'users']);
  });

  it('with families named, the file adds only their part (each CronJob mounts the same file)', () => {
    const executions = resolveTargets(['executions'], batch);
    expect(executions.families).toEqual(['executions']);
    expect(executions.requests.map((request) => request.family)).toEqual(['executions']);
    const dashboard = resolveTargets(['dashboard'], batch);
    expect(dashboard).toMatchObject({ families: ['dashboard'], requests: [] });
  });

  it('keeps what the API ignores for a warning, and refuses nothing to do', () => {
    expect(resolveTargets(['users?colour=red'], null).ignored).toEqual([{ target: 'users?colour=red', parameters: ['colour'] }]);
    expect(() => resolveTargets([], null)).toThrow(/^nothing to refresh/);
  });
});

describe('learned requests: the window and the cap', () => {
  const now = new Date('2026-06-15T12:00:00Z');
  const hour = 3_600_000;
  const seen = (hoursAgo: number) =>
    JSON.stringify({ first_seen: '2026-06-01T00:00:00.000Z', last_seen: new Date(now.getTime() - hoursAgo * hour).toISOString() });
  const key = (taskType: string) => `stats_service:get_execution_stats:group_by=day_period=all_status=none_task_type=${taskType}`;
  const entries = {
    [key('a')]: seen(1),
    [key('b')]: seen(30),
    [key('c')]: seen(3),
    [key('d')]: seen(2),
    'stats_service:get_user_stats:country=Kenya_group_by=month_period=all': seen(1),
    'stats_service:get_execution_stats:group_by=15min_period=all_status=none_task_type=x': seen(1),
    [key('e')]: 'not json',
  };

  it('keeps those seen within the window, most recent first, at most max per family', () => {
    const { active, lapsed } = activeLearned(entries, ['executions'], now, { windowMs: 24 * hour, max: 2 });
    expect(active.map((request) => request.key)).toEqual([key('a'), key('d')]);
    expect(active[0]!.lapses_at).toBe('2026-06-16T11:00:00.000Z');
    // Lapsed, unparseable and unreadable entries are forgotten.
    expect(lapsed.sort()).toEqual([key('b'), key('e'), 'stats_service:get_execution_stats:group_by=15min_period=all_status=none_task_type=x'].sort());
  });

  it('only the families asked for', () => {
    const { active } = activeLearned(entries, ['users'], now, { windowMs: 24 * hour, max: 50 });
    expect(active.map((request) => request.family)).toEqual(['users']);
  });
});
