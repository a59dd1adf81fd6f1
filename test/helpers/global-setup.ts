/**
 * Loads the golden fixture into a template database once per test run.
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
  // Unique per run, so two test runs on one server never drop each other's template.
  const template = `sr_test_golden_tpl_${process.pid}`;
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
