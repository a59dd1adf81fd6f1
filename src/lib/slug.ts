/**
 * Task names and versions from script slugs, following the API's parsing rules
 * (see the contract's "Slugs, versions, numbers").
 */

export interface ParsedSlug {
  readonly task: string;
  readonly version: string;
}

// Exactly three digit runs after a non-digit: `sdg-15-3-1-sub-indicators-2-1-0` keeps its digits in the base.
const TRAILING_DIGIT_VERSION = /^(.*\D)-(\d+-\d+-\d+)$/;

const RENAMED_TASKS: Readonly<Record<string, string>> = {
  'sdg-sub-indicators': 'sdg-15-3-1-sub-indicators',
  'vegetation-productivity': 'productivity',
};

function normalizeBase(base: string): string {
  const renamed = RENAMED_TASKS[base] ?? base;
  return renamed.startsWith('productivity-') ? 'productivity' : renamed;
}

/** Splits a slug into its normalised task name and its version (`""` when it has none). */
export function parseSlug(slug: string | null | undefined): ParsedSlug {
  if (!slug) return { task: 'unknown', version: '' };
  const digits = TRAILING_DIGIT_VERSION.exec(slug);
  if (digits) {
    return { task: normalizeBase(digits[1]!), version: digits[2]!.replaceAll('-', '.') };
  }
  const at = slug.indexOf('-v');
  if (at >= 0) {
    return { task: normalizeBase(slug.slice(0, at)), version: slug.slice(at + 2) };
  }
  return { task: normalizeBase(slug), version: '' };
}

/** The normalised task name of a slug. */
export function taskName(slug: string | null | undefined): string {
  return parseSlug(slug).task;
}

/** Major version for the dashboard's `by_version`: text after the last `-v`, up to the first dot. */
export function majorVersion(slug: string | null | undefined): string {
  if (!slug) return 'unknown';
  const at = slug.lastIndexOf('-v');
  if (at < 0) return 'unknown';
  const dotted = slug.slice(at + 2).replaceAll('-', '.');
  const dot = dotted.indexOf('.');
  return dot >= 0 ? dotted.slice(0, dot) : dotted;
}
