/**
 * src/schedule/self-heal.ts: how long a family waits before it heals a loss again.
 */
import { describe, expect, it } from 'vitest';
import { HealBudget } from '../../src/schedule/self-heal.js';

const MIN = 60_000;

describe('self-healing bound', () => {
  const budget = () => new HealBudget({ baseMs: 10_000, quietMs: 30_000, capMs: { dashboard: 240_000, executions: 300_000, users: 2_000 } });

  it('heals a first loss at once, then waits 10, 20, 40 s … while the keys keep vanishing, up to the interval', () => {
    const heal = budget();
    let now = 0;
    const healsAt: number[] = [];
    // Keys lost every 5 s for 20 minutes; a check every second.
    for (; now < 20 * MIN; now += 1_000) {
      const complete = now % 5_000 !== 0 && healsAt.length > 0 && now - healsAt.at(-1)! < 5_000;
      heal.observe('dashboard', complete, now);
      if (!complete && heal.waitMs('dashboard', now) === 0) {
        heal.healed('dashboard', now);
        healsAt.push(now);
      }
    }
    const spacing = healsAt.slice(1).map((at, index) => at - healsAt[index]!);
    expect(spacing.slice(0, 5)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000]);
    expect(new Set(spacing.slice(5))).toEqual(new Set([240_000])); // capped at the dashboard's interval
  });

  it('a loss after the keys stayed present for the quiet time is healed at once again', () => {
    const heal = budget();
    heal.observe('dashboard', false, 0);
    expect(heal.waitMs('dashboard', 0)).toBe(0);
    heal.healed('dashboard', 0);
    heal.observe('dashboard', true, 1_000);
    heal.observe('dashboard', false, 3_000); // lost again after 2 s
    expect(heal.waitMs('dashboard', 3_000)).toBe(7_000);
    heal.healed('dashboard', 10_000);
    heal.observe('dashboard', true, 11_000);
    heal.observe('dashboard', false, 60_000); // present for 49 s: quiet
    expect(heal.waitMs('dashboard', 60_000)).toBe(0);
  });

  it('never waits longer than the family\'s interval, whatever the base', () => {
    const heal = budget();
    heal.observe('users', false, 0);
    heal.healed('users', 0);
    heal.observe('users', false, 1_000);
    expect(heal.waitMs('users', 1_000)).toBe(1_000); // users' cap here: 2 s, below the 10 s base
  });

  it('refreshes that fail (keys never come back) back off too; families are independent', () => {
    const heal = budget();
    heal.observe('executions', false, 0);
    heal.healed('executions', 0);
    heal.observe('executions', false, 5_000);
    expect(heal.waitMs('executions', 5_000)).toBe(5_000);
    heal.observe('dashboard', false, 5_000);
    expect(heal.waitMs('dashboard', 5_000)).toBe(0);
  });
});
