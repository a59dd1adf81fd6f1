/**
 * deploy/cron/: the cron.d lines and the systemd timers. Their schedules parse (croner,
 * the cron helper of the k8s tests, and systemd-analyze for OnCalendar), are the CronJobs'
 * staggered ones, and meet the TTL rule of the k8s manifests: the TTL exceeds the longest
 * gap + the start delay + the time limit + the time between SIGTERM and SIGKILL. A
 * crontab line is also run as cron would run it, and the units pass `systemd-analyze verify`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULE_DEFAULTS } from '../../src/config.js';
import { parseCron } from '../../src/lib/cron.js';
import { FAMILIES } from '../../src/requests/batches.js';
import { CLI_PATH } from '../helpers/cli.js';
import { databaseFromTemplate, goldenTemplate, type TestDatabase } from '../helpers/services.js';
import { RedisServer } from '../helpers/redis-server.js';
import { PROJECT_ROOT } from './paths.js';
import { loadManifests } from './manifests.js';
import { gaps, minutesOf } from './schedule.js';

const CRONTAB = join(PROJECT_ROOT, 'deploy/cron/stats-refresh.cron');
const SYSTEMD = join(PROJECT_ROOT, 'deploy/cron/systemd');
const SCHEDULE_UNIT = join(PROJECT_ROOT, 'deploy/systemd/stats-refresh-schedule.service');
const ENV_FILE = '/etc/stats-refresh/stats-refresh.env';
const INSTALLED_CLI = '/opt/stats-refresh/dist/cli.js';

interface Timing {
  readonly family: string;
  readonly minutes: number[];
  readonly maxGapSeconds: number;
  readonly startSeconds: number;
  readonly activeSeconds: number;
  readonly killAfterSeconds: number;
  readonly ttl: number;
}

/** The TTL rule of test/deploy/k8s.test.ts, for any way of running one-shots. */
function ttlProblems(timings: readonly Timing[]): string[] {
  return timings.flatMap((timing) => {
    const bound = timing.maxGapSeconds + timing.startSeconds + timing.activeSeconds + timing.killAfterSeconds;
    return timing.ttl > bound ? [] : [`${timing.family}: TTL ${timing.ttl} must exceed ${timing.maxGapSeconds} + ${timing.startSeconds} + ${timing.activeSeconds} + ${timing.killAfterSeconds} = ${bound} s`];
  });
}

const K8S_SCHEDULES = Object.fromEntries(
  loadManifests()
    .filter((manifest) => manifest.object.kind === 'CronJob')
    .map((manifest) => {
      const spec = (manifest.object as { spec?: { schedule?: string; jobTemplate?: any } }).spec;
      return [spec?.jobTemplate?.spec?.template?.spec?.containers?.[0]?.args?.[1] as string | undefined, spec?.schedule];
    })
    // Overlay patches of the CronJobs carry no schedule.
    .filter(([family, schedule]) => family !== undefined && schedule !== undefined),
) as Record<string, string>;

// ---- cron.d --------------------------------------------------------------------------------

interface CronLine {
  readonly schedule: string;
  readonly user: string;
  readonly command: string;
}

function cronLines(text: string): CronLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#') && !/^\w+=/.test(line))
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      return { schedule: fields.slice(0, 5).join(' '), user: fields[5]!, command: fields.slice(6).join(' ') };
    });
}

function cronTiming(line: CronLine): Timing {
  const family = /cli\.js refresh (\w+)/.exec(line.command)?.[1] ?? '?';
  const ttl = Number(/STATS_CACHE_TTL=(\d+) /.exec(line.command)?.[1]);
  const timeout = /timeout -k (\d+)s (\d+)s /.exec(line.command);
  // cron starts a job within its minute's first second.
  return {
    family,
    minutes: minutesOf(line.schedule),
    maxGapSeconds: 60 * Math.max(...gaps(line.schedule)),
    startSeconds: 1,
    activeSeconds: Number(timeout?.[2]),
    killAfterSeconds: Number(timeout?.[1]),
    ttl,
  };
}

// ---- systemd -------------------------------------------------------------------------------

function unitSettings(file: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^(\w+)=(.*)$/.exec(line.trim());
    if (match) settings.set(match[1]!, [...(settings.get(match[1]!) ?? []), match[2]!]);
  }
  return settings;
}

function seconds(span: string | undefined): number {
  const match = /^(\d+)(s|min)?$/.exec(span ?? '');
  if (!match) throw new Error(`cannot read time span ${span}`);
  return Number(match[1]) * (match[2] === 'min' ? 60 : 1);
}

/** Firing times of an OnCalendar expression over two days, as systemd itself computes them. */
function calendarFirings(expression: string): number[] {
  const result = spawnSync('systemd-analyze', ['calendar', '--iterations=1000', expression], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', SYSTEMD_COLORS: '0' } });
  if (result.error) throw new Error(`systemd-analyze not runnable (${result.error.message}); .ci/run installs Debian's systemd`);
  expect(result.status, result.stderr).toBe(0);
  return [...result.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)].map((match) => Date.parse(`${match[1]!.replace(' ', 'T')}Z`) / 1000);
}

function timerTiming(family: string): Timing {
  const timer = unitSettings(join(SYSTEMD, `stats-refresh-${family}.timer`));
  const service = unitSettings(join(SYSTEMD, 'stats-refresh@.service'));
  const times = calendarFirings(timer.get('OnCalendar')![0]!);
  const gapsSeconds = times.slice(1).map((time, index) => time - times[index]!);
  const ttl = Number(service.get('Environment')!.map((entry) => /^STATS_CACHE_TTL=(\d+)$/.exec(entry)?.[1]).find(Boolean));
  return {
    family: /@(\w+)\.service$/.exec(timer.get('Unit')![0]!)?.[1] ?? '?',
    minutes: [...new Set(times.map((time) => new Date(time * 1000).getUTCMinutes()))].sort((a, b) => a - b),
    maxGapSeconds: Math.max(...gapsSeconds),
    startSeconds: seconds(timer.get('AccuracySec')?.[0]),
    activeSeconds: seconds(service.get('TimeoutStartSec')?.[0]),
    killAfterSeconds: seconds(service.get('TimeoutStopSec')?.[0]),
    ttl,
  };
}

describe('deploy/cron: cron.d', () => {
  const lines = cronLines(readFileSync(CRONTAB, 'utf8'));
  const timings = lines.map(cronTiming);

  it('one line per family, on the CronJobs\' staggered schedules, which croner reads too', () => {
    expect(timings.map((timing) => timing.family).sort()).toEqual([...FAMILIES].sort());
    for (const [index, line] of lines.entries()) {
      expect(line.schedule, timings[index]!.family).toBe(K8S_SCHEDULES[timings[index]!.family]);
      expect(line.schedule).toBe(SCHEDULE_DEFAULTS.schedules[timings[index]!.family as keyof typeof SCHEDULE_DEFAULTS.schedules]);
      expect(() => parseCron(line.schedule)).not.toThrow();
      expect(line.user).toBe('stats-refresh');
      expect(line.command).not.toMatch(/%/); // cron would turn it into a newline
    }
  });

  it('each line\'s STATS_CACHE_TTL meets the TTL rule (and the rule bites)', () => {
    expect(ttlProblems(timings)).toEqual([]);
    expect(ttlProblems([{ ...timings[0]!, ttl: 390 }])).toEqual([`${timings[0]!.family}: TTL 390 must exceed 240 + 1 + 120 + 30 = 391 s`]);
  });

  describe('a line run as cron runs it', () => {
    let database: TestDatabase;
    let redis: RedisServer;
    let work: string;
    beforeAll(async () => {
      database = await databaseFromTemplate(goldenTemplate(), 'cron');
      redis = await RedisServer.start();
      work = mkdtempSync(join(tmpdir(), 'stats-refresh-cron-'));
    });
    afterAll(async () => {
      await redis?.stop();
      await database?.drop();
      rmSync(work, { recursive: true, force: true });
    });

    it('reads the env file, sets its TTL, prints nothing on success (cron mails nothing)', async () => {
      const line = lines.find((candidate) => candidate.command.includes('refresh dashboard'))!;
      const envFile = join(work, 'stats-refresh.env');
      writeFileSync(envFile, `DATABASE_URL='${database.url}'\nREDIS_URL='${redis.url(0)}'\nSTATS_CACHE_TTL=300\n`);
      const command = line.command.replace(ENV_FILE, envFile).replace(INSTALLED_CLI, CLI_PATH);
      const run = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn('/bin/sh', ['-c', command], { env: { PATH: process.env.PATH! } });
        let output = '';
        child.stdout.on('data', (chunk) => (output += chunk));
        child.stderr.on('data', (chunk) => (output += chunk));
        child.on('exit', (code) => resolve({ code, output }));
      });
      expect(run).toEqual({ code: 0, output: '' });
      const client = new Redis(redis.url(0));
      try {
        const ttl = await client.ttl('stats_service:_get_summary_stats:period=all');
        expect(ttl).toBeGreaterThan(300); // the line's 510, not the env file's 300
        expect(ttl).toBeLessThanOrEqual(510);
      } finally {
        client.disconnect();
      }
    });
  });
});

describe('deploy/cron: systemd timers', () => {
  const timings = FAMILIES.map(timerTiming);

  it('every unit passes systemd-analyze verify without a warning', () => {
    const units = [
      ...readdirSync(SYSTEMD).filter((file) => file.endsWith('.timer')).map((file) => join(SYSTEMD, file)),
      ...FAMILIES.map((family) => join(SYSTEMD, `stats-refresh@${family}.service`)),
      SCHEDULE_UNIT,
    ];
    const result = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
  });

  it('the timers fire at the CronJobs\' minutes (as systemd computes OnCalendar), every hour alike', () => {
    for (const timing of timings) expect(timing.minutes, timing.family).toEqual(minutesOf(K8S_SCHEDULES[timing.family]!));
    for (const timing of timings) expect(timing.maxGapSeconds, timing.family).toBe(60 * Math.max(...gaps(K8S_SCHEDULES[timing.family]!)));
  });

  it('the service\'s STATS_CACHE_TTL meets the TTL rule for every family', () => {
    expect(ttlProblems(timings)).toEqual([]);
    expect(ttlProblems([{ ...timings[2]!, ttl: 500 }])).toHaveLength(1);
  });

  it('the service runs the CLI for its instance, as the stats-refresh user, with the env file', () => {
    const service = unitSettings(join(SYSTEMD, 'stats-refresh@.service'));
    expect(service.get('ExecStart')).toEqual([`/usr/bin/node ${INSTALLED_CLI} refresh %i`]);
    expect(service.get('User')).toEqual(['stats-refresh']);
    expect(service.get('EnvironmentFile')).toEqual([ENV_FILE]);
    const schedule = unitSettings(SCHEDULE_UNIT);
    expect(schedule.get('ExecStart')).toEqual([`/usr/bin/node ${INSTALLED_CLI} schedule`]);
    expect(seconds(schedule.get('TimeoutStopSec')?.[0])).toBeGreaterThan(20); // the grace period
  });
});
