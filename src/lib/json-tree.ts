/**
 * JSON read as Python wrote it, keeping what JSON.parse loses: whether a number was an int
 * (`1`) or a float (`1.0`), the number's exact text, and the order of an object's keys
 * (JSON.parse moves numeric-looking keys first). For comparing payloads the API stored with
 * ours, where `1` against `1.0` is a difference of type.
 */

export class JsonNumber {
  constructor(
    /** The literal as written. */
    readonly text: string,
  ) {}

  get float(): boolean {
    return /[.eE]|^-?(Infinity|NaN)$/.test(this.text);
  }
}

export type JsonNode = null | boolean | string | JsonNumber | JsonNode[] | Map<string, JsonNode>;

const WHITESPACE = /[ \t\n\r]*/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|-?Infinity|NaN/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/** Parses JSON text (Python's `json.dumps` output, NaN and Infinity included); throws on anything else. */
export function parseJsonTree(text: string): JsonNode {
  let at = 0;
  const fail = (what: string): never => {
    throw new Error(`not JSON: ${what} at character ${at}`);
  };
  const skip = () => {
    WHITESPACE.lastIndex = at;
    WHITESPACE.exec(text);
    at = WHITESPACE.lastIndex;
  };
  const token = (pattern: RegExp): string | null => {
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (!match) return null;
    at = pattern.lastIndex;
    return match[0];
  };
  const value = (): JsonNode => {
    skip();
    const char = text[at];
    if (char === '{') {
      at++;
      const object = new Map<string, JsonNode>();
      skip();
      if (text[at] === '}') return at++, object;
      for (;;) {
        skip();
        const key = token(STRING) ?? fail('a key');
        skip();
        if (text[at++] !== ':') fail('a colon');
        object.set(JSON.parse(key) as string, value());
        skip();
        const next = text[at++];
        if (next === '}') return object;
        if (next !== ',') fail('a comma');
      }
    }
    if (char === '[') {
      at++;
      const array: JsonNode[] = [];
      skip();
      if (text[at] === ']') return at++, array;
      for (;;) {
        array.push(value());
        skip();
        const next = text[at++];
        if (next === ']') return array;
        if (next !== ',') fail('a comma');
      }
    }
    if (char === '"') return JSON.parse(token(STRING) ?? fail('a string')) as string;
    for (const [literal, node] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(literal, at)) return (at += literal.length), node;
    }
    return new JsonNumber(token(NUMBER) ?? fail('a value'));
  };
  const tree = value();
  skip();
  if (at !== text.length) fail('the end');
  return tree;
}
