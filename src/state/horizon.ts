/**
 * The validity horizon of payloads computed at an instant from the rows held: what the change
 * probe's horizon part finds with 15 index descents (see validUntilOf in
 * src/pass/change-probe.ts), found in memory at no database cost.
 */
import { WINDOWS_MS } from '../lib/time.js';
import { validUntilOf } from '../pass/change-probe.js';

/** 2000-01-01, PostgreSQL's epoch, in ms since 1970. */
const PG_EPOCH_MS = 946_684_800_000;

/** Beyond ±2^53 µs a Number is within 1,024 µs of the int8 it was read from. */
const INEXACT_MARGIN_MICROS = 1024;

/** A timestamp column as held: µs since 2000, NaN for NULL, ±Infinity for PostgreSQL's infinities; rows 0 … count - 1. */
export interface TimeColumn {
  readonly values: Float64Array;
  readonly count: number;
}

/**
 * The last millisecond at which payloads computed at `nowMs` from these columns stay exact,
 * as the probe's horizon would say for the same rows (null: no bound). A time read inexactly
 * (beyond ±2^53 µs, centuries away) is taken as early as it may be: the bound can only come
 * sooner, costing a run, never later.
 */
export function validUntilIn(columns: readonly TimeColumn[], nowMs: number): Date | null {
  const cuts = WINDOWS_MS.map((windowMs) => (nowMs - windowMs - PG_EPOCH_MS) * 1000);
  const earliestCut = Math.min(...cuts);
  const oldest = cuts.map(() => Number.POSITIVE_INFINITY);
  for (const { values, count } of columns) {
    for (let row = 0; row < count; row++) {
      const micros = values[row]!;
      // NaN fails the comparison; +Infinity is in every window but has no time to leave it at.
      if (!(micros >= earliestCut) || micros === Number.POSITIVE_INFINITY) continue;
      for (let window = 0; window < cuts.length; window++) {
        if (micros >= cuts[window]! && micros < oldest[window]!) oldest[window] = micros;
      }
    }
  }
  return validUntilOf(oldest.map((micros) => (micros === Number.POSITIVE_INFINITY ? null : since1970(micros))));
}

function since1970(micros: number): bigint {
  const early = Number.isSafeInteger(micros) ? micros : micros - INEXACT_MARGIN_MICROS;
  return BigInt(early) + BigInt(PG_EPOCH_MS) * 1000n;
}
