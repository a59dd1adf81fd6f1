/**
 * src/stats/assemble.ts: the Assembler puts sections under their fields, builds each once, and
 * fails only the payloads that read a failed source (rows: test/helpers/stats-rows.ts).
 */
import { describe, expect, it } from 'vitest';
import { pyJson } from '../../src/lib/pyjson.js';
import { Assembler } from '../../src/stats/assemble.js';
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
