/**
 * src/stats/assemble.ts: the Assembler puts sections under their fields, builds each once,
 * fails only the payloads that read a failed source (rows: test/helpers/stats-rows.ts), and
 * gives a kept section's text again only when every input it is built from is the same.
 */
import { describe, expect, it } from 'vitest';
import { pyJson } from '../../src/lib/pyjson.js';
import type { Column } from '../../src/pass/catalog.js';
import type { RunData, Since, SourceVersions } from '../../src/pass/run-data.js';
import { Assembler } from '../../src/stats/assemble.js';
import type { SectionRequest } from '../../src/stats/sections.js';
import { SectionTexts } from '../../src/state/section-texts.js';
import { summarySection, tasksSection, trendsSection } from '../../src/stats/dashboard.js';
import { geographicSection } from '../../src/stats/geographic.js';
import { referenceData } from '../helpers/reference-data.js';
import { NOW, WEEK_AGO, ROWS, DATA } from '../helpers/stats-rows.js';

describe('Assembler', () => {
  it('puts sections under their fields in the API\'s order, whatever the order of include', () => {
    const payload = new Assembler(DATA, NOW).payload({ family: 'dashboard', period: 'all', include: ['tasks', 'summary'] });
    expect(Object.keys(JSON.parse(payload))).toEqual(['summary', 'tasks']);
    const executions = new Assembler(DATA, NOW).payload({ family: 'executions', period: 'all', groupBy: 'day', status: null, taskType: null });
    expect(Object.keys(JSON.parse(executions))).toEqual(['time_series', 'top_users', 'task_performance']);
    const users = new Assembler(DATA, NOW).payload({ family: 'users', period: 'all', groupBy: 'day', country: null });
    expect(Object.keys(JSON.parse(users))).toEqual(['registration_trends', 'geographic_distribution', 'activity_stats']);
  });

  it('writes a payload as serialising it whole would: its sections\' text under their fields', () => {
    const assembler = new Assembler(DATA, NOW);
    const config = { family: 'dashboard', period: 'last_week', include: ['summary', 'trends', 'geographic', 'tasks'] } as const;
    const whole = pyJson({
      summary: summarySection(DATA, WEEK_AGO),
      trends: trendsSection(DATA, 'last_week', NOW),
      geographic: geographicSection(DATA, WEEK_AGO),
      tasks: tasksSection(DATA, WEEK_AGO),
    });
    expect(assembler.payload(config)).toBe(whole);
    expect(assembler.section({ section: 'geographic', period: 'last_week' })).toBe(pyJson(geographicSection(DATA, WEEK_AGO)));
  });

  it('builds each distinct section once', () => {
    let calls = 0;
    const counting = { ...DATA, usersByCountry: (since: number | null) => (calls++, DATA.usersByCountry(since)) };
    const assembler = new Assembler(counting, NOW);
    assembler.payload({ family: 'users', period: 'all', groupBy: 'day', country: null });
    assembler.payload({ family: 'users', period: 'all', groupBy: 'month', country: null });
    assembler.payload({ family: 'dashboard', period: 'all', include: ['geographic'] });
    expect(calls).toBe(1);
  });

  it('fails a payload with the first failed source it reads, and only those that read it', () => {
    const failed = referenceData(ROWS, new Map([['user_table', new Error('query user_table failed: boom')]]));
    const assembler = new Assembler(failed, NOW);
    expect(() => assembler.payload({ family: 'dashboard', period: 'all', include: ['trends', 'geographic'] })).toThrow(/user_table failed: boom/);
    expect(Object.keys(JSON.parse(assembler.payload({ family: 'dashboard', period: 'all', include: ['trends', 'tasks'] })))).toEqual(['trends', 'tasks']);
    expect(() => assembler.section({ section: 'summary', period: 'all' })).toThrow(/boom/);
  });
});

describe('Assembler with texts kept between runs', () => {
  const TABLE = {};
  interface Versions {
    pass: number | null;
    table: object;
    users: number | null;
    before: (since: Since) => number;
    emails: string;
  }
  const base: Versions = { pass: 1, table: TABLE, users: 1, before: (since) => (since === null ? -1 : 10), emails: 'e' };

  /** Runs assembling `sections` over DATA with these versions; returns the builder calls per section. */
  function run(texts: SectionTexts, versions: Partial<Versions>, sections: readonly SectionRequest[], data: RunData = DATA, refused?: ReadonlyMap<Column, Error>) {
    const v = { ...base, ...versions };
    const sourceVersions: SourceVersions = {
      pass: () => v.pass,
      users: () => (v.users === null ? null : [v.table, v.users]),
      usersBefore: v.before,
      emails: () => v.emails,
    };
    const builtBefore = new Map([...texts.counts.bySection].map(([name, counts]) => [name, counts.built]));
    texts.beginRun();
    const assembler = new Assembler({ ...data, versions: sourceVersions }, NOW, refused, texts);
    const values = sections.map((section) => assembler.section(section));
    const built = new Set([...texts.counts.bySection].filter(([name, counts]) => counts.built > (builtBefore.get(name) ?? 0)).map(([name]) => name));
    return { values, built };
  }

  const SECTIONS: readonly SectionRequest[] = [
    { section: 'summary', period: 'last_week' },
    { section: 'trends', period: 'last_week' },
    { section: 'geographic', period: 'last_week' },
    { section: 'registration', period: 'last_week', groupBy: 'day', country: null },
    { section: 'activity', period: 'last_week' },
    { section: 'topUsers', period: 'last_week', taskType: null },
  ];

  it('reuses every section whose inputs are the same, with the same text', () => {
    const texts = new SectionTexts();
    const first = run(texts, {}, SECTIONS);
    expect(first.built.size).toBe(SECTIONS.length);
    const again = run(texts, {}, SECTIONS);
    expect(again.built.size).toBe(0);
    expect(again.values).toEqual(first.values);
    expect(texts.counts.reused).toBe(SECTIONS.length);
  });

  it('rebuilds what reads the pass when its version moves, and only that', () => {
    const texts = new SectionTexts();
    run(texts, {}, SECTIONS);
    expect([...run(texts, { pass: 2 }, SECTIONS).built].sort()).toEqual(['activity', 'summary', 'topUsers', 'trends']);
  });

  it('rebuilds what reads the user table when its version moves or it is another table', () => {
    const texts = new SectionTexts();
    run(texts, {}, SECTIONS);
    expect([...run(texts, { users: 2 }, SECTIONS).built].sort()).toEqual(['activity', 'geographic', 'registration', 'summary']);
    expect([...run(texts, { users: 2, table: {} }, SECTIONS).built].sort()).toEqual(['activity', 'geographic', 'registration', 'summary']);
  });

  it('rebuilds the sections over a window of users when the window starts at another row; activity reads no window', () => {
    const texts = new SectionTexts();
    run(texts, {}, SECTIONS);
    expect([...run(texts, { before: (since) => (since === null ? -1 : 11) }, SECTIONS).built].sort()).toEqual(['geographic', 'registration', 'summary']);
  });

  it('rebuilds top users when the emails differ', () => {
    const texts = new SectionTexts();
    run(texts, {}, SECTIONS);
    expect([...run(texts, { emails: 'f' }, SECTIONS).built]).toEqual(['topUsers']);
  });

  it('never reuses what reads a source without a version', () => {
    const texts = new SectionTexts();
    run(texts, { pass: null, users: null }, SECTIONS);
    expect(run(texts, { pass: null, users: null }, SECTIONS).built.size).toBe(SECTIONS.length);
    run(texts, {}, SECTIONS);
    expect([...run(texts, { pass: null }, SECTIONS).built].sort()).toEqual(['activity', 'summary', 'topUsers', 'trends']);
  });

  it('fails as it would without kept texts: a failed source, a refused column', () => {
    const texts = new SectionTexts();
    run(texts, {}, SECTIONS);
    const geographic: SectionRequest[] = [{ section: 'geographic', period: 'last_week' }];
    const failed = referenceData(ROWS, new Map([['user_table', new Error('query user_table failed: boom')]]));
    expect(() => run(texts, {}, geographic, failed)).toThrow(/boom/);
    // The failed run used no text: the next one builds again (the texts kept are the last run's).
    expect(run(texts, {}, geographic).built.size).toBe(1);
    const refused = new Map<Column, Error>([['user.country', new Error('user.country is of type bytea')]]);
    expect(() => run(texts, {}, geographic, DATA, refused)).toThrow(/bytea/);
  });

  it('is a COPY run\'s Assembler as before without kept texts', () => {
    expect(new Assembler(DATA, NOW).section({ section: 'geographic', period: 'last_week' })).toBe(pyJson(geographicSection(DATA, WEEK_AGO)));
  });
});
