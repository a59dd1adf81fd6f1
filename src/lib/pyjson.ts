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

/** Printable ASCII but `"` and `\`: written as it is (nearly every string of a payload). */
const PLAIN = /^[ !#-[\]-~]*$/;

/** A string as Python's `ensure_ascii` JSON encoder writes it: all but printable ASCII escaped, UTF-16 unit by unit. */
export function pyString(text: string): string {
  return PLAIN.test(text) ? `"${text}"` : `"${text.replace(/["\\]|[^ -~]/g, escapeChar)}"`;
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

/** Serialises a payload the way the API stores it, in one pass; a Map is a dict whose key order matters. */
export function pyJson(value: unknown): string {
  return write(value, '');
}

/** `out` followed by the JSON of `value`. */
function write(value: unknown, out: string): string {
  if (value === null || value === undefined) return `${out}null`;
  switch (typeof value) {
    case 'string':
      return out + pyString(value);
    case 'number':
      return out + (Number.isInteger(value) ? String(value) : pyFloat(value));
    case 'boolean':
      return out + (value ? 'true' : 'false');
    case 'bigint':
      return out + value.toString();
    case 'object':
      break;
    default:
      throw new TypeError(`cannot serialise a ${typeof value}`);
  }
  if (value instanceof PyFloat) return out + pyFloat(value.value);
  if (Array.isArray(value)) {
    out += '[';
    for (let index = 0; index < value.length; index++) out = write(value[index], index === 0 ? out : `${out}, `);
    return `${out}]`;
  }
  out += '{';
  let first = true;
  const member = (key: string, item: unknown) => {
    if (item === undefined) return;
    out = write(item, `${first ? out : `${out}, `}${pyString(key)}: `);
    first = false;
  };
  // Maps keep data-derived keys in insertion order (objects would move numeric-looking keys first).
  if (value instanceof Map) for (const [key, item] of value as Map<string, unknown>) member(key, item);
  else for (const key in value) member(key, (value as Record<string, unknown>)[key]);
  return `${out}}`;
}
