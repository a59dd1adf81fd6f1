/**
 * tools/check-api-version.ts, the maintainer's check of a new API version, run against a
 * stand-in API checkout (CI has no copy of the API): a `gefapi.services.stats_service`
 * whose StatsService answers the golden entries, and refuses to unless the driver froze its
 * clock at the fixture's instant and turned its cache off, as the real one would need.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_URL } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GOLDEN_DIR = path.join(ROOT, 'test/fixtures/golden');

const STAND_IN = `
import json
import os
from contextlib import contextmanager
from datetime import UTC, datetime

FIXTURE_INSTANT = datetime(2026, 6, 15, 12, 34, 56, tzinfo=UTC)
ENTRIES = {}
for name in ("expected.json", "requests-expected.json"):
    with open(os.path.join(os.environ["GOLDEN_DIR"], name), encoding="utf-8") as handle:
        ENTRIES.update({key: entry["raw"] for key, entry in json.load(handle).items()})


class _App:
    @contextmanager
    def app_context(self):
        yield


app = _App()


def get_redis_cache():
    raise RuntimeError("the cache was not turned off")


def _key(method, **kwargs):
    return "stats_service:%s:%s" % (method, "_".join("%s=%s" % item for item in sorted(kwargs.items())))


def _answer(method, **kwargs):
    if datetime.now(UTC) != FIXTURE_INSTANT or datetime.utcnow() != FIXTURE_INSTANT.replace(tzinfo=None):
        raise RuntimeError("the clock is not frozen at the fixture's instant")
    if get_redis_cache().is_available():
        raise RuntimeError("the cache is on")
    text = ENTRIES[_key(method, **kwargs)]
    if os.environ.get("STAND_IN_DRIFT") and method == "get_user_stats":
        text = text.replace('"active_users_in_period"', '"active_last_day"')
    return json.loads(text)


class StatsService:
    @staticmethod
    def get_dashboard_stats(period="all", include=None):
        return _answer("get_dashboard_stats", period=period, include=",".join(sorted(include)))

    @staticmethod
    def get_execution_stats(period="last_month", group_by="day", task_type=None, status=None):
        return _answer("get_execution_stats", period=period, group_by=group_by, task_type=task_type or "none", status=status or "none")

    @staticmethod
    def get_user_stats(period="last_year", group_by="month", country=None):
        return _answer("get_user_stats", period=period, group_by=group_by, country=country or "none")

    @staticmethod
    def _get_summary_stats(period="all"):
        return _answer("_get_summary_stats", period=period)

    @staticmethod
    def _get_trends_data(period):
        return _answer("_get_trends_data", period=period)

    @staticmethod
    def _get_geographic_data(period):
        return _answer("_get_geographic_data", period=period)
`;

let api: string;

beforeAll(() => {
  api = mkdtempSync(path.join(tmpdir(), 'stand-in-api-'));
  mkdirSync(path.join(api, 'gefapi/services'), { recursive: true });
  writeFileSync(path.join(api, 'gefapi/__init__.py'), '');
  writeFileSync(path.join(api, 'gefapi/services/__init__.py'), '');
  writeFileSync(path.join(api, 'gefapi/services/stats_service.py'), STAND_IN);
});

afterAll(() => {
  rmSync(api, { recursive: true, force: true });
});

function check(env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'tools/check-api-version.ts', '--api', api, '--admin-url', ADMIN_URL], {
    cwd: ROOT,
    // Not the machine's whole environment: a PYTHONPATH or DATABASE_URL of its own must not reach the check.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, GOLDEN_DIR, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
}

describe('tools/check-api-version.ts', () => {
  it('an API that computes the golden entries: every key equal, exit 0', () => {
    const run = check();
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/57 keys: \d+ identical, \d+ equal, 0 different/);
    // The API takes the time series' dict order from PostgreSQL: those keys are equal, not identical.
    expect(run.stdout).toMatch(/EQUAL stats_service:get_execution_stats:/);
  });

  it('an API whose users payload renamed a field: that key differs, with its path, exit 1', () => {
    const run = check({ STAND_IN_DRIFT: '1' });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/DIFFERS stats_service:get_user_stats:country=none_group_by=month_period=last_year\n {2}structure activity_stats\.active_last_day/);
    expect(run.stdout).toMatch(/the API's value also differs from the golden entry recorded for it/);
  });

  it('a usage error is exit 2', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'tools/check-api-version.ts'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/usage: /);
  });
});
