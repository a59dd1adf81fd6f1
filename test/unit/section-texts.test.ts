/**
 * src/state/section-texts.ts: a text is given again only under the same key and the same
 * inputs (objects by identity), and the texts kept are the last run's only.
 */
import { describe, expect, it } from 'vitest';
import { SectionTexts, sectionTextsOf } from '../../src/state/section-texts.js';

describe('SectionTexts', () => {
  it('gives a text again only for the same key and inputs', () => {
    const texts = new SectionTexts();
    const table = {};
    texts.set('a', [1, table, 5], 'A');
    expect(texts.get('a', [1, table, 5])).toBe('A');
    expect(texts.get('b', [1, table, 5])).toBeUndefined();
    expect(texts.get('a', [2, table, 5]), 'another pass version').toBeUndefined();
    expect(texts.get('a', [1, {}, 5]), 'another table, even at the same version').toBeUndefined();
    expect(texts.get('a', [1, table, 6]), 'another window start').toBeUndefined();
    expect(texts.get('a', [1, table]), 'fewer inputs').toBeUndefined();
  });

  it('keeps the texts the last run used or built, and drops the others', () => {
    const texts = new SectionTexts();
    texts.set('used', [1], 'U');
    texts.set('unused', [1], 'X');
    texts.beginRun();
    expect(texts.get('used', [1])).toBe('U');
    texts.set('new', [1], 'N');
    expect(texts.size).toBe(3);
    texts.beginRun();
    expect(texts.get('unused', [1])).toBeUndefined();
    expect(texts.get('used', [1])).toBe('U');
    expect(texts.get('new', [1])).toBe('N');
    texts.beginRun();
    texts.beginRun();
    expect(texts.size).toBe(0);
  });

  it('counts sections built and reused, by name', () => {
    const texts = new SectionTexts();
    texts.count('summary', false);
    texts.count('summary', true);
    texts.count('trends', true);
    expect(texts.counts.built).toBe(1);
    expect(texts.counts.reused).toBe(2);
    expect(texts.counts.bySection.get('summary')).toEqual({ built: 1, reused: 1 });
  });

  it('is found on a memory source that keeps texts, and only there', () => {
    const sections = new SectionTexts();
    expect(sectionTextsOf({ sections })).toBe(sections);
    expect(sectionTextsOf({})).toBeUndefined();
    expect(sectionTextsOf(undefined)).toBeUndefined();
  });
});
