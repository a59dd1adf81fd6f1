/**
 * JSON text as the API's `json.dumps(value, default=str)` writes it: `", "` and `": "`
 * separators, non-ASCII escaped as `\uXXXX`, and floats with a fraction (`100.0`).
 * Clients parse it to the same value as plain JSON; writing it the API's way keeps
 * our entries byte-for-byte comparable with the ones the API stores itself.
 */
import { PyFloat } from './numbers.js';

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

function escapeChar(char: string): string {
  return SHORT_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** A string as Python's `ensure_ascii` JSON encoder writes it: all but printable ASCII escaped, UTF-16 unit by unit. */
export function pyString(text: string): string {
  return `"${text.replace(/["\\]|[^ -~]/g, escapeChar)}"`;
}

/** Python's `repr(float)`: shortest round-trip digits, always with a fraction or an exponent. */
export function pyFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
    const [mantissa, exponent] = value.toExponential().split('e') as [string, string];
    const sign = exponent.startsWith('-') ? '-' : '+';
    const digits = exponent.replace(/^[+-]/, '').padStart(2, '0');
    return `${mantissa}e${sign}${digits}`;
  }
  const text = Object.is(value, -0) ? '-0' : String(value);
  return text.includes('.') ? text : `${text}.0`;
}

/** Serialises a payload the way the API stores it; a Map is a dict whose key order matters. */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof PyFloat) return pyFloat(value.value);
  switch (typeof value) {
    case 'string':
      return pyString(value);
    case 'number':
      return Number.isInteger(value) ? String(value) : pyFloat(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object':
      if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
      // Maps keep data-derived keys in insertion order (objects would move numeric-looking keys first).
      return `{${(value instanceof Map ? [...value.entries()] : Object.entries(value as Record<string, unknown>))
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => `${pyString(key)}: ${pyJson(item)}`)
        .join(', ')}}`;
    default:
      throw new TypeError(`cannot serialise a ${typeof value}`);
  }
}
