/**
 * PostgreSQL `numeric` arithmetic, exactly, for the one average the API takes from it:
 * `avg(extract(epoch FROM end_date - start_date) / 60)`. Each row's quotient is rounded at
 * the scale PostgreSQL picks for that division, the rounded quotients are summed exactly,
 * and the sum is divided by the count with the same rules. Reproducing those rules (not
 * the real-number average) is what makes the stored text equal to the API's.
 */

/** A decimal value: `units / 10^scale`, where `scale` is PostgreSQL's display scale. */
export interface Numeric {
  readonly units: bigint;
  readonly scale: number;
}

// numeric.c: NUMERIC_MIN_SIG_DIGITS, DEC_DIGITS (decimal digits per base-10000 digit), display scale bounds.
const MIN_SIG_DIGITS = 16;
const DEC_DIGITS = 4;
const MAX_DISPLAY_SCALE = 1000;

const pow10Cache: bigint[] = [];
/** 10^n as a bigint, cached (n ≥ 0). */
export function pow10(n: number): bigint {
  let value = pow10Cache[n];
  if (value === undefined) {
    value = 10n ** BigInt(n);
    pow10Cache[n] = value;
  }
  return value;
}

const abs = (value: bigint) => (value < 0n ? -value : value);

/**
 * The weight (position in base 10000) and value of the first non-zero base-10000 digit of
 * a numeric, as PostgreSQL stores it; zero has weight 0 and first digit 0.
 */
export function leadingDigit(value: Numeric): { weight: number; first: number } {
  const magnitude = abs(value.units);
  if (magnitude === 0n) return { weight: 0, first: 0 };
  // Position of the leading decimal digit: magnitude has `digits` digits, so it is d.ddd × 10^(digits-1-scale).
  const digits = magnitude.toString().length;
  const weight = Math.floor((digits - 1 - value.scale) / DEC_DIGITS);
  const shift = value.scale + weight * DEC_DIGITS;
  const first = shift >= 0 ? magnitude / pow10(shift) : magnitude * pow10(-shift);
  return { weight, first: Number(first) };
}

/** numeric.c's select_div_scale(): the result scale PostgreSQL gives `dividend / divisor`. */
export function divisionScale(dividend: Numeric, divisor: Numeric): number {
  const a = leadingDigit(dividend);
  const b = leadingDigit(divisor);
  // PostgreSQL assumes the dividend's digits are the smaller when the first digits are equal.
  const quotientWeight = a.weight - b.weight - (a.first <= b.first ? 1 : 0);
  const scale = Math.max(MIN_SIG_DIGITS - quotientWeight * DEC_DIGITS, dividend.scale, divisor.scale, 0);
  return Math.min(scale, MAX_DISPLAY_SCALE);
}

/** `numerator / denominator` rounded half away from zero to an integer (PostgreSQL's round_var). */
export function divideHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (denominator === 0n) throw new RangeError('division by zero');
  const negative = numerator < 0n !== denominator < 0n;
  const n = abs(numerator);
  const d = abs(denominator);
  const quotient = (2n * n + d) / (2n * d);
  return negative ? -quotient : quotient;
}

/** PostgreSQL's `numeric / numeric`: the exact quotient rounded at the scale it selects. */
export function numericDivide(dividend: Numeric, divisor: Numeric): Numeric {
  if (divisor.units === 0n) throw new RangeError('division by zero');
  const scale = divisionScale(dividend, divisor);
  // dividend/divisor × 10^scale = (a·10^-sa) / (b·10^-sb) × 10^scale
  const numerator = dividend.units * pow10(divisor.scale + scale);
  const denominator = divisor.units * pow10(dividend.scale);
  return { units: divideHalfUp(numerator, denominator), scale };
}

/** numeric_out: the text PostgreSQL prints, with exactly `scale` decimals and no sign on zero. */
export function formatNumeric(value: Numeric): string {
  const magnitude = abs(value.units).toString().padStart(value.scale + 1, '0');
  const whole = magnitude.slice(0, magnitude.length - value.scale);
  const fraction = value.scale > 0 ? `.${magnitude.slice(magnitude.length - value.scale)}` : '';
  return `${value.units < 0n ? '-' : ''}${whole}${fraction}`;
}

// ---------------------------------------------------------------------------------------
// The average duration in minutes, folded row by row without a bigint per row.
// ---------------------------------------------------------------------------------------

/** extract(epoch FROM interval) is the interval's microseconds as a numeric of scale 6. */
const EPOCH_SCALE = 6;
const SIXTY: Numeric = { units: 60n, scale: 0 };
/** Every per-row quotient is at most this scale (|duration| ≥ 1 µs gives 24), so sums are kept in 10^-24 units. */
const SUM_SCALE = 24;

/**
 * The scale PostgreSQL picks for `(µs / 10^6) / 60`, by |µs|: it depends only on the
 * leading base-10000 digit of the seconds (see divisionScale). Zero divides at scale 20.
 */
const SCALE_STEPS: ReadonlyArray<readonly [limit: number, scale: number]> = [
  [1, 20],
  [6_100, 24],
  [61e6, 20],
  [61e10, 16],
  [61e14, 12],
  [Number.MAX_SAFE_INTEGER + 1, 8],
];
const FAST_SCALES = [24, 20, 16, 12, 8] as const;
const SCALE_SLOT: Readonly<Record<number, number>> = { 24: 0, 20: 1, 16: 2, 12: 3, 8: 4 };

/**
 * A duration of 6u + v microseconds divided at scale r (m = r - 7 ≥ 1) is, in 10^-r units,
 * round(u·10^m + v·10^m/6) = u·10^m + v·c + g(v), with c = (10^m - 4)/6 and g(v) the
 * rounding of 4v/6, which is never a tie. In 10^-24 units that is u·10^17 plus a constant
 * of (v, r): a row adds u to one sum and 1 to one of 30 counters.
 */
const ROUNDED_TWO_THIRDS = [0n, 1n, 1n, 2n, 3n, 3n];
const REMAINDER_UNITS: readonly bigint[] = FAST_SCALES.flatMap((scale) => {
  const m = scale - 7;
  const c = (pow10(m) - 4n) / 6n;
  return ROUNDED_TWO_THIRDS.map((g, v) => (BigInt(v) * c + g) * pow10(SUM_SCALE - scale));
});
const WHOLE_UNITS = pow10(SUM_SCALE - 7); // a u counts 10^17 units

/** Σ exact(µs/10^6/60) rounded per row as PostgreSQL rounds it, plus the count and the sum's scale. */
export class DurationSum {
  /** Rows folded (PostgreSQL's avg() divides by this). */
  count = 0;
  /** Σ ±u of the fast path; moved into `overflow` before it can lose precision. */
  private wholes = 0;
  /** Σ ±1 per (remainder, scale) class, index slot·6 + v. */
  private readonly remainders = new Float64Array(FAST_SCALES.length * 6);
  /** Exact 10^-24 units carried over from `wholes` and from rows too long for the fast path. */
  private overflow = 0n;
  /** The display scale of the sum: the largest scale of any row's quotient (-1 when empty). */
  private scale = -1;

  /** Adds one duration of `micros` microseconds (a safe integer; larger ones go through addExact). */
  add(micros: number): void {
    this.count++;
    const magnitude = micros < 0 ? -micros : micros;
    if (magnitude > Number.MAX_SAFE_INTEGER) {
      this.addExactQuotient(BigInt(micros));
      return;
    }
    let step = 0;
    while (magnitude >= SCALE_STEPS[step]![0]) step++;
    const scale = SCALE_STEPS[step]![1];
    if (scale > this.scale) this.scale = scale;
    if (magnitude === 0) return;
    const sign = micros < 0 ? -1 : 1;
    let u = Math.floor(magnitude / 6);
    let v = magnitude - u * 6;
    // The float quotient can land one off near 2^53; the remainder says which way.
    if (v < 0) {
      u--;
      v += 6;
    } else if (v >= 6) {
      u++;
      v -= 6;
    }
    this.remainders[SCALE_SLOT[scale]! * 6 + v]! += sign;
    this.wholes += sign * u;
    if (this.wholes > 2 ** 52 || this.wholes < -(2 ** 52)) {
      this.overflow += BigInt(this.wholes) * WHOLE_UNITS;
      this.wholes = 0;
    }
  }

  /** Adds one duration given exactly (any int8), through the general division. */
  addExact(micros: bigint): void {
    this.count++;
    this.addExactQuotient(micros);
  }

  private addExactQuotient(micros: bigint): void {
    const quotient = numericDivide({ units: micros, scale: EPOCH_SCALE }, SIXTY);
    if (quotient.scale > this.scale) this.scale = quotient.scale;
    this.overflow += quotient.units * pow10(SUM_SCALE - quotient.scale);
  }

  /** Adds another sum into this one (periods are sums of tiers). */
  merge(other: DurationSum): void {
    this.count += other.count;
    this.wholes += other.wholes;
    this.overflow += other.overflow;
    for (let index = 0; index < this.remainders.length; index++) this.remainders[index]! += other.remainders[index]!;
    if (other.scale > this.scale) this.scale = other.scale;
  }

  /** The exact sum, at its display scale. */
  sum(): Numeric {
    let units = this.overflow + BigInt(this.wholes) * WHOLE_UNITS;
    this.remainders.forEach((count, index) => {
      if (count !== 0) units += BigInt(count) * REMAINDER_UNITS[index]!;
    });
    const scale = Math.max(this.scale, 0);
    // Every term has at most `scale` decimals, so this division is exact.
    return { units: units / pow10(SUM_SCALE - scale), scale };
  }

  /** avg() as PostgreSQL prints it, or null for no rows. */
  averageText(): string | null {
    if (this.count === 0) return null;
    return formatNumeric(numericDivide(this.sum(), { units: BigInt(this.count), scale: 0 }));
  }
}
