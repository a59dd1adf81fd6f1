/**
 * CronJob schedules as sets of minutes, for the staggering and TTL checks. Only the
 * forms the stats-refresh CronJobs may use are accepted: a minute field (`*`, `N`,
 * `A-B`, `*\/S`, `A-B/S`, `A/S` and comma lists of those) and `*` for hour, day of month,
 * month and day of week, so every hour repeats the same minutes.
 */

export const MINUTES_PER_DAY = 24 * 60;

/** The minutes (0-59) of each hour the schedule fires at. */
export function minutesOf(schedule: string): number[] {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`schedule "${schedule}": expected 5 fields`);
  const [minute, ...rest] = fields as [string, string, string, string, string];
  if (rest.some((field) => field !== '*')) {
    throw new Error(`schedule "${schedule}": hour, day, month and weekday must be * (every hour alike)`);
  }
  const minutes = new Set<number>();
  for (const item of minute.split(',')) {
    const match = /^(?:(\*)|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (!match) throw new Error(`schedule "${schedule}": cannot read minute item "${item}"`);
    const [, star, from, to, step] = match;
    const start = star ? 0 : Number(from);
    // `A/S` (no range) runs from A to the end, as in the cron library Kubernetes uses.
    const end = star ? 59 : to !== undefined ? Number(to) : step !== undefined ? 59 : start;
    const stride = step !== undefined ? Number(step) : 1;
    if (start > 59 || end > 59 || start > end || stride < 1) throw new Error(`schedule "${schedule}": bad minute item "${item}"`);
    for (let m = start; m <= end; m += stride) minutes.add(m);
  }
  return [...minutes].sort((a, b) => a - b);
}

/** Firing times (minutes since midnight UTC) over `days` days. */
export function firings(schedule: string, days = 2): number[] {
  const minutes = minutesOf(schedule);
  const times: number[] = [];
  for (let hour = 0; hour < 24 * days; hour++) for (const minute of minutes) times.push(hour * 60 + minute);
  return times;
}

/** Gaps in minutes between consecutive runs, across hour and day boundaries. */
export function gaps(schedule: string): number[] {
  const times = firings(schedule, 2);
  return times.slice(1).map((time, index) => time - times[index]!);
}

export interface Collisions {
  /** Minutes of the day (0..1439) at which two or more schedules fire. */
  readonly minutes: number[];
  /** Of those, minutes at which all of them fire. */
  readonly all: number[];
}

/** Enumerates every minute of a day. */
export function collisions(schedules: readonly string[]): Collisions {
  const sets = schedules.map((schedule) => new Set(minutesOf(schedule)));
  const minutes: number[] = [];
  const all: number[] = [];
  for (let time = 0; time < MINUTES_PER_DAY; time++) {
    const firing = sets.filter((set) => set.has(time % 60)).length;
    if (firing >= 2) minutes.push(time);
    if (firing === sets.length && sets.length > 1) all.push(time);
  }
  return { minutes, all };
}

/** `O-59/I`: every I minutes from minute O (O < I), the regular schedules of interval I. */
export function everyMinutes(interval: number, offset: number): string {
  return `${offset}-59/${interval} * * * *`;
}

/**
 * The fewest collision minutes per day any choice of offsets can reach for regular
 * schedules of these intervals (each interval dividing 60, so every one is `O-59/I`).
 */
export function minimumCollisions(intervals: readonly number[]): number {
  let best = Number.POSITIVE_INFINITY;
  const choose = (index: number, chosen: string[]): void => {
    if (index === intervals.length) {
      best = Math.min(best, collisions(chosen).minutes.length);
      return;
    }
    const interval = intervals[index]!;
    for (let offset = 0; offset < interval; offset++) choose(index + 1, [...chosen, everyMinutes(interval, offset)]);
  };
  choose(0, []);
  return best;
}
