/**
 * Where the typed arrays of an object graph are: their buffers' bytes summed by the path
 * that reaches them (cut at `depth` names; a Map's values count under `[m]`, an array's
 * items under `[]`), each buffer once. For bench:memory's report of what the state holds.
 */
export function typedBytesByPath(root: unknown, rootName: string, depth: number): Map<string, number> {
  const seen = new Set<unknown>();
  const sizes = new Map<string, number>();
  const visit = (value: unknown, path: string) => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    if (ArrayBuffer.isView(value)) {
      if (seen.has(value.buffer)) return;
      seen.add(value.buffer);
      const key = path.split('.').slice(0, depth).join('.');
      sizes.set(key, (sizes.get(key) ?? 0) + value.buffer.byteLength);
      return;
    }
    if (value instanceof Map) for (const item of value.values()) visit(item, `${path}.[m]`);
    else if (Array.isArray(value)) for (const item of value) visit(item, `${path}.[]`);
    else for (const [name, item] of Object.entries(value as object)) visit(item, `${path}.${name}`);
  };
  visit(root, rootName);
  return sizes;
}
