/** Three-way comparison of texts by UTF-16 code units, as `<` orders them (and Python's `sorted` for ASCII). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
