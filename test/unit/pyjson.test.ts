import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PyFloat } from '../../src/lib/numbers.js';
import { pyFloat, pyJson, pyString } from '../../src/lib/pyjson.js';

const golden = JSON.parse(
  readFileSync(new URL('../fixtures/golden/expected.json', import.meta.url), 'utf8'),
) as Record<string, { raw: string; ttl: number }>;

/**
 * Parses JSON text as Python wrote it, keeping what JSON.parse loses: objects become Maps
 * (key order kept verbatim), numbers written with a fraction or exponent become PyFloat.
 */
function parsePython(text: string): unknown {
  let at = 0;
  const ws = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++;
  };
  const expectChar = (char: string) => {
    if (text[at] !== char) throw new Error(`expected ${char} at ${at}`);
    at++;
  };
  const string = (): string => {
    const start = at;
    expectChar('"');
    while (text[at] !== '"') {
      if (at >= text.length) throw new Error('unterminated string');
      at += text[at] === '\\' ? 2 : 1;
    }
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (): unknown => {
    ws();
    const char = text[at];
    if (char === '{') {
      at++;
      const map = new Map<string, unknown>();
      ws();
      if (text[at] === '}') {
        at++;
        return map;
      }
      for (;;) {
        ws();
        const key = string();
        ws();
        expectChar(':');
        map.set(key, value());
        ws();
        if (text[at] === ',') at++;
        else {
          expectChar('}');
          return map;
        }
      }
    }
    if (char === '[') {
      at++;
      const list: unknown[] = [];
      ws();
      if (text[at] === ']') {
        at++;
        return list;
      }
      for (;;) {
        list.push(value());
        ws();
        if (text[at] === ',') at++;
        else {
          expectChar(']');
          return list;
        }
      }
    }
    if (char === '"') return string();
    for (const [word, result] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return result;
      }
    }
    const number = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(at));
    if (!number) throw new Error(`unexpected ${char} at ${at}`);
    at += number[0].length;
    return number[1] || number[2] ? new PyFloat(Number(number[0])) : Number(number[0]);
  };
  const result = value();
  ws();
  if (at !== text.length) throw new Error(`trailing text at ${at}`);
  return result;
}

describe('pyString', () => {
  it('escapes non-ASCII as \\uXXXX (ensure_ascii)', () => {
    expect(pyString("Côte d'Ivoire")).toBe('"C\\u00f4te d\'Ivoire"');
    expect(pyString('Curaçao')).toBe('"Cura\\u00e7ao"');
    expect(pyString('Ελλάδα')).toBe('"\\u0395\\u03bb\\u03bb\\u03ac\\u03b4\\u03b1"');
  });

  it('escapes astral characters as a surrogate pair', () => {
    expect(pyString('😀')).toBe('"\\ud83d\\ude00"');
    expect(pyString('a😀b')).toBe('"a\\ud83d\\ude00b"');
  });

  it('escapes a lone surrogate', () => {
    expect(pyString('\ud800')).toBe('"\\ud800"');
  });

  it('uses the short escapes and \\u00XX for other control characters', () => {
    expect(pyString('a\nb\tc')).toBe('"a\\nb\\tc"');
    expect(pyString('\r\b\f')).toBe('"\\r\\b\\f"');
    expect(pyString('\u0000\u0001\u001f')).toBe('"\\u0000\\u0001\\u001f"');
  });

  it('escapes quotes and backslashes but not slashes', () => {
    expect(pyString('a"b\\c/d')).toBe('"a\\"b\\\\c/d"');
  });

  it('keeps printable ASCII as is', () => {
    const printable = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i))
      .filter((c) => c !== '"' && c !== '\\')
      .join('');
    expect(pyString(printable)).toBe(`"${printable}"`);
  });

  it('escapes U+2028, U+2029 and U+FFFF', () => {
    expect(pyString('\u2028\u2029\uffff')).toBe('"\\u2028\\u2029\\uffff"');
  });

  it('writes an empty string', () => {
    expect(pyString('')).toBe('""');
  });

  // Regression: found by review of src/lib/pyjson.ts.
  it('escapes DEL (U+007F) as \\u007f like Python', () => {
    expect(pyString('a\u007fb')).toBe('"a\\u007fb"');
  });
});

describe('pyFloat', () => {
  const cases: Array<[number, string]> = [
    // all checked with python3 repr(float)
    [100, '100.0'],
    [0, '0.0'],
    [-0, '-0.0'],
    [64.8, '64.8'],
    [1e-5, '1e-05'],
    [-1e-5, '-1e-05'],
    [1.5e-7, '1.5e-07'],
    [0.0001, '0.0001'],
    [0.00012, '0.00012'],
    [1e16, '1e+16'],
    [1e22, '1e+22'],
    [9999999999999998, '9999999999999998.0'],
    [1.2345678901234568e20, '1.2345678901234568e+20'],
    [0.1 + 0.2, '0.30000000000000004'],
    [123.456, '123.456'],
    [99999.5, '99999.5'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
  ];
  it.each(cases)('repr(%s) = %s', (value, expected) => {
    expect(pyFloat(value)).toBe(expected);
  });
});

describe('pyJson', () => {
  it('writes scalars', () => {
    expect(pyJson(null)).toBe('null');
    expect(pyJson(undefined)).toBe('null');
    expect(pyJson(true)).toBe('true');
    expect(pyJson(false)).toBe('false');
    expect(pyJson(42)).toBe('42');
    expect(pyJson(-7)).toBe('-7');
    expect(pyJson(0)).toBe('0');
    expect(pyJson(12345678901234567890n)).toBe('12345678901234567890');
    expect(pyJson('x')).toBe('"x"');
  });

  it('writes integers without a fraction and PyFloats with one', () => {
    expect(pyJson(100)).toBe('100');
    expect(pyJson(new PyFloat(100))).toBe('100.0');
    expect(pyJson(new PyFloat(0))).toBe('0.0');
    expect(pyJson(new PyFloat(64.8))).toBe('64.8');
    expect(pyJson(new PyFloat(1e-5))).toBe('1e-05');
    expect(pyJson(new PyFloat(1e16))).toBe('1e+16');
    expect(pyJson(new PyFloat(1.5e-7))).toBe('1.5e-07');
  });

  it('writes non-integral plain numbers as floats', () => {
    expect(pyJson(2.5)).toBe('2.5');
    expect(pyJson(1e-5)).toBe('1e-05');
  });

  it('uses Python separators ", " and ": "', () => {
    expect(pyJson({ a: [1, 2.5, { b: null }], c: true })).toBe('{"a": [1, 2.5, {"b": null}], "c": true}');
  });

  it('writes empty containers', () => {
    expect(pyJson({})).toBe('{}');
    expect(pyJson([])).toBe('[]');
    expect(pyJson(new Map())).toBe('{}');
    expect(pyJson([[], {}])).toBe('[[], {}]');
  });

  it('omits undefined object fields (and Map entries) but writes undefined list items as null', () => {
    expect(pyJson({ a: 1, b: undefined, c: 2 })).toBe('{"a": 1, "c": 2}');
    expect(pyJson(new Map<string, unknown>([['a', undefined], ['b', 1]]))).toBe('{"b": 1}');
    expect(pyJson([1, undefined])).toBe('[1, null]');
  });

  it('keeps Map insertion order, even for numeric-looking keys', () => {
    const map = new Map<string, number>([['10', 1], ['2', 2], ['b', 3], ['a', 4]]);
    expect(pyJson(map)).toBe('{"10": 1, "2": 2, "b": 3, "a": 4}');
  });

  it('escapes keys like values', () => {
    expect(pyJson(new Map([['Côte d\'Ivoire', 18]]))).toBe('{"C\\u00f4te d\'Ivoire": 18}');
    expect(pyJson({ 'a"b': 'é' })).toBe('{"a\\"b": "\\u00e9"}');
  });

  it('writes nested structures', () => {
    const value = new Map<string, unknown>([
      ['by_type', [new Map<string, unknown>([['task', 'land-cover'], ['count', 3], ['success_rate', new PyFloat(63)]])]],
      ['nested', { deeper: [[new PyFloat(0.5)], { x: 'y' }] }],
    ]);
    expect(pyJson(value)).toBe(
      '{"by_type": [{"task": "land-cover", "count": 3, "success_rate": 63.0}], "nested": {"deeper": [[0.5], {"x": "y"}]}}',
    );
  });

  it('refuses values JSON cannot hold', () => {
    expect(() => pyJson(() => 1)).toThrow(TypeError);
    expect(() => pyJson(Symbol('s'))).toThrow(TypeError);
  });

  it('parses back to the plain value of a realistic payload', () => {
    const payload = {
      summary: { total_executions: 8102, total_users: 400 },
      tasks: {
        by_type: [
          { task: 'sdg-15-3-1-sub-indicators', count: 3829, success_rate: new PyFloat(66.5) },
          { task: 'time-series', count: 81, success_rate: new PyFloat(63) },
        ],
        by_version: [{ version: 'unknown', count: 6925, percentage: new PyFloat(85.9) }],
      },
      geographic: {
        countries: new Map<string, number>([['Kenya', 65], ["Côte d'Ivoire", 18], ['Curaçao', 14], ['2', 1]]),
        total_users: 363,
      },
      performance: { avg_duration_minutes: '12.3', note: 'line\nbreak\t😀', missing: undefined, none: null },
    };
    expect(JSON.parse(pyJson(payload))).toEqual({
      summary: { total_executions: 8102, total_users: 400 },
      tasks: {
        by_type: [
          { task: 'sdg-15-3-1-sub-indicators', count: 3829, success_rate: 66.5 },
          { task: 'time-series', count: 81, success_rate: 63 },
        ],
        by_version: [{ version: 'unknown', count: 6925, percentage: 85.9 }],
      },
      geographic: { countries: { Kenya: 65, "Côte d'Ivoire": 18, 'Curaçao': 14, '2': 1 }, total_users: 363 },
      performance: { avg_duration_minutes: '12.3', note: 'line\nbreak\t😀', none: null },
    });
  });
});

describe('pyJson against the golden entries the API stored', () => {
  it('rebuilds the geographic/all entry byte for byte', () => {
    const raw = golden['stats_service:_get_geographic_data:period=all']!.raw;
    const parsed = JSON.parse(raw) as { countries: Record<string, number>; total_users: number };
    const rebuilt = new Map<string, unknown>([
      ['countries', new Map(Object.entries(parsed.countries))],
      ['total_users', parsed.total_users],
    ]);
    const text = pyJson(rebuilt);
    expect(text).toBe(raw);
    expect(text).toContain('"C\\u00f4te d\'Ivoire": 18');
    expect(text).toContain('"Cura\\u00e7ao": 14');
  });

  it('rebuilds the tasks/all entry byte for byte (floats such as 63.0 keep their fraction)', () => {
    const raw = golden['stats_service:get_dashboard_stats:include=tasks_period=all']!.raw;
    expect(raw).toContain('"success_rate": 63.0');
    expect(pyJson(parsePython(raw))).toBe(raw);
  });

  it('rebuilds every one of the 41 golden entries byte for byte', () => {
    const keys = Object.keys(golden);
    expect(keys).toHaveLength(41);
    for (const key of keys) {
      const raw = golden[key]!.raw;
      expect(pyJson(parsePython(raw)), key).toBe(raw);
    }
  });
});
