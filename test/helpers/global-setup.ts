/**
 * Loads the golden fixture into a template database once per test run and project (the unit
 * project has no global set-up: it runs with PostgreSQL down).
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { withDatabase } from '../../tools/seed-lib.js';
import type { TestProject } from 'vitest/node';
import { ADMIN_URL, adminQuery } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    goldenTemplate: string;
  }
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Unique per run and project, so neither two test runs on one server nor two projects of one
  // run ever drop each other's template.
  const template = `sr_test_golden_tpl_${process.pid}_${project.name.replace(/\W/g, '_')}`;
  await adminQuery(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  await adminQuery(`CREATE DATABASE "${template}"`);
  project.provide('goldenTemplate', template);
  const client = new pg.Client({ connectionString: withDatabase(ADMIN_URL, template) });
  await client.connect();
  try {
    await client.query(await readFile(new URL('../fixtures/golden/database.sql', import.meta.url), 'utf8'));
  } finally {
    await client.end();
  }
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  };
}
