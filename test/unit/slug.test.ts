import { describe, expect, it } from 'vitest';
import { majorVersion, parseSlug, taskName } from '../../src/lib/slug.js';

describe('parseSlug', () => {
  const cases: Array<[string, string, string]> = [
    // slug, task, version
    ['sdg-15-3-1-sub-indicators-2-2-4', 'sdg-15-3-1-sub-indicators', '2.2.4'],
    ['sdg-15-3-1-sub-indicators', 'sdg-15-3-1-sub-indicators', ''],
    ['land-cover-1-10-0', 'land-cover', '1.10.0'],
    ['land-cover-2-0-1', 'land-cover', '2.0.1'],
    ['productivity-v2.1.0', 'productivity', '2.1.0'],
    ['productivity-trajectory-1-0-0', 'productivity', '1.0.0'],
    ['vegetation-productivity-1-0-0', 'productivity', '1.0.0'],
    ['sdg-sub-indicators-1-0-1', 'sdg-15-3-1-sub-indicators', '1.0.1'],
    ['15-3-1', '15-3-1', ''],
    ['drought-vulnerability', 'drought', 'ulnerability'],
    ['x-v1-0-3', 'x', '1-0-3'],
    ['change-biomass-v1-0-3', 'change-biomass', '1-0-3'],
    ['soil-erosion-v3', 'soil-erosion', '3'],
    ['download-data', 'download-data', ''],
    ['sdg-15-3-1-sub-indicators-v2', 'sdg-15-3-1-sub-indicators', '2'],
  ];
  it.each(cases)('%s → task %s, version %j', (slug, task, version) => {
    expect(parseSlug(slug)).toEqual({ task, version });
  });

  it('returns unknown with no version for an empty or absent slug', () => {
    expect(parseSlug('')).toEqual({ task: 'unknown', version: '' });
    expect(parseSlug(null)).toEqual({ task: 'unknown', version: '' });
    expect(parseSlug(undefined)).toEqual({ task: 'unknown', version: '' });
  });

  it('takes the trailing digit version only when a non-digit precedes it', () => {
    // The base must end in a non-digit: `a-1-2-3-4` has no split that satisfies /^(.*\D)-(\d+-\d+-\d+)$/.
    expect(parseSlug('a-1-2-3-4')).toEqual({ task: 'a-1-2-3-4', version: '' });
    expect(parseSlug('1-2-3')).toEqual({ task: '1-2-3', version: '' });
    // Two digit runs are not a version.
    expect(parseSlug('land-cover-1-0')).toEqual({ task: 'land-cover-1-0', version: '' });
  });

  it('prefers the trailing digit version over a -v split', () => {
    expect(parseSlug('soil-v-1-0-0')).toEqual({ task: 'soil-v', version: '1.0.0' });
    expect(parseSlug('drought-vulnerability-1-0-3')).toEqual({ task: 'drought-vulnerability', version: '1.0.3' });
  });

  it('splits at the first -v', () => {
    expect(parseSlug('a-very-v2')).toEqual({ task: 'a', version: 'ery-v2' });
  });

  it('renames the old task names', () => {
    expect(parseSlug('sdg-sub-indicators')).toEqual({ task: 'sdg-15-3-1-sub-indicators', version: '' });
    expect(parseSlug('vegetation-productivity')).toEqual({ task: 'productivity', version: '' });
    expect(parseSlug('vegetation-productivity-v1.0.0')).toEqual({ task: 'productivity', version: '1.0.0' });
  });

  it('folds every productivity- base into productivity, but not other productivity names', () => {
    expect(parseSlug('productivity')).toEqual({ task: 'productivity', version: '' });
    expect(parseSlug('productivity-state')).toEqual({ task: 'productivity', version: '' });
    expect(parseSlug('productivity-performance-2-0-0')).toEqual({ task: 'productivity', version: '2.0.0' });
    expect(parseSlug('productivity-trajectory-v1.2.3')).toEqual({ task: 'productivity', version: '1.2.3' });
    expect(parseSlug('land-productivity-1-0-0')).toEqual({ task: 'land-productivity', version: '1.0.0' });
    expect(parseSlug('productivityx-1-0-0')).toEqual({ task: 'productivityx', version: '1.0.0' });
  });

  it('renames only the exact old bases', () => {
    expect(parseSlug('sdg-sub-indicators-extra-1-0-0')).toEqual({ task: 'sdg-sub-indicators-extra', version: '1.0.0' });
    expect(parseSlug('old-vegetation-productivity-1-0-0')).toEqual({ task: 'old-vegetation-productivity', version: '1.0.0' });
  });
});

describe('taskName', () => {
  it('returns the task of parseSlug', () => {
    expect(taskName('sdg-sub-indicators-1-0-1')).toBe('sdg-15-3-1-sub-indicators');
    expect(taskName('productivity-v2.1.0')).toBe('productivity');
    expect(taskName('land-cover-1-10-0')).toBe('land-cover');
    expect(taskName('drought-vulnerability')).toBe('drought');
    expect(taskName('')).toBe('unknown');
    expect(taskName(null)).toBe('unknown');
    expect(taskName(undefined)).toBe('unknown');
  });
});

describe('majorVersion', () => {
  const cases: Array<[string, string]> = [
    ['productivity-v2.1.0', '2'],
    ['change-biomass-v1-0-3', '1'],
    ['drought-vulnerability', 'ulnerability'],
    ['land-cover-2-0-1', 'unknown'],
    ['soil-erosion-v3', '3'],
    ['', 'unknown'],
    ['sdg-15-3-1-sub-indicators', 'unknown'],
    ['x-v10.2', '10'],
    ['x-v0-9-1', '0'],
    // After the LAST -v (parseSlug splits at the first one).
    ['a-very-v2.0', '2'],
    ['drought-vulnerability-v1.0.3', '1'],
  ];
  it.each(cases)('%j → %j', (slug, major) => {
    expect(majorVersion(slug)).toBe(major);
  });

  it('returns unknown for an absent slug', () => {
    expect(majorVersion(null)).toBe('unknown');
    expect(majorVersion(undefined)).toBe('unknown');
  });
});
