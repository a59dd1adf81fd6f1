/**
 * Cron expressions, read by croner in UTC: the 5-field form (minutes) or the 6-field
 * form with seconds first.
 */
import { Cron } from 'croner';

export const CRON_TIMEZONE = 'Etc/UTC';

/** A paused schedule, for reading its firing times; throws croner's message when the expression is invalid. */
export function parseCron(expression: string): Cron {
  return new Cron(expression, { timezone: CRON_TIMEZONE, mode: '5-or-6-parts', paused: true });
}

/**
 * The longest gap between consecutive firings over the next `firings` ones (the same
 * for every gap of a regular schedule), or null when the schedule never fires again.
 */
export function longestGapMs(expression: string, from: Date = new Date(), firings = 200): number | null {
  const times = parseCron(expression).nextRuns(firings + 1, from).map((date) => date.getTime());
  if (times.length < 2) return null;
  let longest = 0;
  for (let index = 1; index < times.length; index++) longest = Math.max(longest, times[index]! - times[index - 1]!);
  return longest;
}

/** How many times the schedule fires in an hour, on average over its next `firings` firings (NaN when it never fires again). */
export function firingsPerHour(expression: string, from: Date = new Date(), firings = 25): number {
  const times = parseCron(expression).nextRuns(firings, from).map((date) => date.getTime());
  if (times.length < 2) return Number.NaN;
  return ((times.length - 1) * 3_600_000) / (times.at(-1)! - times[0]!);
}
