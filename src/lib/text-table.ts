/** Plain-text tables for the terminal views (status, the run summary). */

/**
 * Rows as left-aligned columns two spaces apart; the first row is the header. The last
 * column is not padded, so a long last cell (a key, a reason) costs no trailing spaces.
 */
export function textTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}
