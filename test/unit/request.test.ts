/**
 * src/requests/request.ts: targets and requests read in the API's syntax, its defaults, its
 * query-string decoding and its validation messages.
 */
import { describe, expect, it } from 'vitest';
import type { StatsRequest } from '../../src/requests/batches.js';
import { payloadKey } from '../../src/requests/request-keys.js';
import { normalizeUserGroupBy, parseRequest, parseTarget, pyStrip, RequestError } from '../../src/requests/request.js';

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
