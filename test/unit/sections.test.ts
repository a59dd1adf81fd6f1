/**
 * The sections as data: what each payload holds, and the failure table docs/architecture.md
 * shows, which must be the one the declarations give.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestsFor } from '../../src/requests/batches.js';
import { failureTable, partsOf, SECTION_SOURCES, sourcesOf } from '../../src/stats/sections.js';

const ARCHITECTURE = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

/** The rows of the failure table in docs/architecture.md: source → sections. */
function documentedTable(): Map<string, string[]> {
  const rows = [...ARCHITECTURE.matchAll(/^\| `(\w+)` \| ([^|]+) \|$/gm)];
  return new Map(rows.map((row) => [row[1]!, row[2]!.split(',').map((section) => section.trim())]));
}

describe('the failure table', () => {
  it('docs/architecture.md shows exactly what the declarations give', () => {
    const documented = documentedTable();
    expect(documented.size).toBe(4);
    expect(documented).toEqual(failureTable());
  });

  it('follows from the sources each section reads and what the pass is computed from', () => {
    const table = failureTable();
    expect(table.get('top_user_emails')).toEqual(['topUsers']);
    // The pass needs the script table: a section on the pass fails with it.
    for (const section of table.get('execution_pass')!) expect(table.get('scripts')).toContain(section);
    expect(table.get('scripts')).not.toContain('geographic');
  });
});

describe('configs and their sources', () => {
  it('a dashboard of geographic alone reads only "user"; the executions family never does', () => {
    expect([...sourcesOf({ family: 'dashboard', period: 'all', include: ['geographic'] })]).toEqual(['user_table']);
    for (const config of requestsFor(['executions'])) expect(sourcesOf(config).has('user_table')).toBe(false);
  });

  it('16 batch configs are built on "user", as the isolation test finds', () => {
    expect(requestsFor(['dashboard', 'executions', 'users']).filter((config) => sourcesOf(config).has('user_table'))).toHaveLength(16);
  });

  it('every section named by a payload is declared', () => {
    for (const config of requestsFor(['dashboard', 'executions', 'users'])) {
      for (const [, request] of partsOf(config)) expect(SECTION_SOURCES[request.section]).toBeDefined();
    }
  });
});
