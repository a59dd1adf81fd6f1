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
const STEP_LIMITS = Float64Array.from(SCALE_STEPS, ([limit]) => limit);
const STEP_SCALES = Int32Array.from(SCALE_STEPS, ([, scale]) => scale);
const STEPS = SCALE_STEPS.length;
const FAST_SCALES = [24, 20, 16, 12, 8] as const;
/** The remainder counters' slot of each step of SCALE_STEPS (step 0 is zero, which adds nothing). */
const SLOT_OF_STEP = [-1, 0, 1, 2, 3, 4];

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

/** Per cell, a head: row count, the sum's display scale + 1 (0: empty), Σ ±u. */
const COUNT = 0;
const SCALE_PLUS_ONE = 1;
const WHOLES = 2;
const HEAD = 3;
/** And apart, the 30 remainder counters (int32: each counts rows, which the pass keeps below 2^31). */
const REMAINDERS = FAST_SCALES.length * 6;
const WHOLES_LIMIT = 2 ** 52;

/** The sum of some cells of a DurationTable, and PostgreSQL's avg() of it. */
export interface DurationTotal {
  readonly count: number;
  /** The exact sum of the rounded per-row quotients, at its display scale. */
  readonly sum: Numeric;
  /** avg() as PostgreSQL prints it; null for no rows. */
  readonly averageText: string | null;
}

/**
 * Σ exact(µs / 10^6 / 60), each row rounded as PostgreSQL rounds it, per cell (a script and
 * tier, say). Cells are flat in two arrays (heads, and int32 remainder counters), so a row
 * touches two cache lines, not an object, and the table stays small enough for the cache.
 */
export class DurationTable {
  private heads: Float64Array;
  private remainders: Int32Array;
  /** Exact 10^-24 units per cell: `wholes` carried over, and rows too long for the fast path. */
  private readonly overflow = new Map<number, bigint>();
  /** Rows per (cell, step of SCALE_STEPS), and per (cell, scale) of the exact path. */
  private scaleCounts: Int32Array;
  private readonly exactScales = new Map<number, Map<number, number>>();

  constructor(cells = 16) {
    this.heads = new Float64Array(HEAD * cells);
    this.remainders = new Int32Array(REMAINDERS * cells);
    this.scaleCounts = new Int32Array(STEPS * cells);
  }

  /**
   * Adds one duration of `micros` microseconds to `cell` (beyond ±2^53 it takes the exact path);
   * `weight` -1 takes out one added before, leaving what adding the others alone gives.
   */
  add(cell: number, micros: number, weight: 1 | -1 = 1): void {
    const magnitude = micros < 0 ? -micros : micros;
    if (magnitude > Number.MAX_SAFE_INTEGER) {
      this.addExact(cell, BigInt(micros), weight);
      return;
    }
    this.reach(cell);
    const heads = this.heads;
    const at = HEAD * cell;
    heads[at + COUNT]! += weight;
    let step = 0;
    while (magnitude >= STEP_LIMITS[step]!) step++;
    this.countScale(cell, step, weight);
    if (magnitude === 0) return;
    const sign = micros < 0 ? -weight : weight;
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
    this.remainders[REMAINDERS * cell + SLOT_OF_STEP[step]! * 6 + v]! += sign;
    const wholes = heads[at + WHOLES]! + sign * u;
    if (wholes > WHOLES_LIMIT || wholes < -WHOLES_LIMIT) {
      this.carry(cell, BigInt(wholes) * WHOLE_UNITS);
      heads[at + WHOLES] = 0;
    } else {
      heads[at + WHOLES] = wholes;
    }
  }

  /** Adds (or, `weight` -1, takes out) one duration given exactly (any int8), through the general division. */
  addExact(cell: number, micros: bigint, weight: 1 | -1 = 1): void {
    this.reach(cell);
    const at = HEAD * cell;
    this.heads[at + COUNT]! += weight;
    const quotient = numericDivide({ units: micros, scale: EPOCH_SCALE }, SIXTY);
    this.countExactScale(cell, quotient.scale, weight);
    this.carry(cell, BigInt(weight) * quotient.units * pow10(SUM_SCALE - quotient.scale));
  }

  /**
   * The display scale is the largest scale of the rows in the cell: rows are counted per scale
   * so that taking out the last row of the largest gives back the next one down.
   */
  private countScale(cell: number, step: number, weight: 1 | -1): void {
    const counts = this.scaleCounts;
    counts[STEPS * cell + step]! += weight;
    const scalePlusOne = STEP_SCALES[step]! + 1;
    const at = HEAD * cell + SCALE_PLUS_ONE;
    if (weight > 0) {
      if (scalePlusOne > this.heads[at]!) this.heads[at] = scalePlusOne;
    } else if (counts[STEPS * cell + step] === 0 && scalePlusOne === this.heads[at]) {
      this.heads[at] = this.largestScalePlusOne(cell);
    }
  }

  private countExactScale(cell: number, scale: number, weight: 1 | -1): void {
    let scales = this.exactScales.get(cell);
    if (!scales) {
      scales = new Map();
      this.exactScales.set(cell, scales);
    }
    const count = (scales.get(scale) ?? 0) + weight;
    if (count === 0) scales.delete(scale);
    else scales.set(scale, count);
    const at = HEAD * cell + SCALE_PLUS_ONE;
    if (weight > 0) {
      if (scale + 1 > this.heads[at]!) this.heads[at] = scale + 1;
    } else if (count === 0 && scale + 1 === this.heads[at]) {
      this.heads[at] = this.largestScalePlusOne(cell);
    }
  }

  /** The largest scale + 1 of the rows a cell holds (0: none). */
  private largestScalePlusOne(cell: number): number {
    let largest = 0;
    for (let step = 0; step < STEPS; step++) {
      if (this.scaleCounts[STEPS * cell + step] !== 0) largest = Math.max(largest, STEP_SCALES[step]! + 1);
    }
    for (const scale of this.exactScales.get(cell)?.keys() ?? []) largest = Math.max(largest, scale + 1);
    return largest;
  }

  /** The sum of `cells` (a period is the sum of its tiers), exactly. */
  total(cells: Iterable<number>): DurationTotal {
    let count = 0;
    let scale = -1;
    let units = 0n;
    // Counters are counts of rows: summed as Numbers (exact), turned into units once.
    const remainders = new Float64Array(REMAINDERS);
    for (const cell of cells) {
      const at = HEAD * cell;
      if (at >= this.heads.length || this.heads[at + COUNT] === 0) continue;
      count += this.heads[at + COUNT]!;
      scale = Math.max(scale, this.heads[at + SCALE_PLUS_ONE]! - 1);
      units += (this.overflow.get(cell) ?? 0n) + BigInt(this.heads[at + WHOLES]!) * WHOLE_UNITS;
      for (let index = 0; index < REMAINDERS; index++) remainders[index]! += this.remainders[REMAINDERS * cell + index]!;
    }
    for (let index = 0; index < remainders.length; index++) {
      if (remainders[index] !== 0) units += BigInt(remainders[index]!) * REMAINDER_UNITS[index]!;
    }
    const displayScale = Math.max(scale, 0);
    // Every term has at most `displayScale` decimals, so this division is exact.
    const sum = { units: units / pow10(SUM_SCALE - displayScale), scale: displayScale };
    const averageText = count === 0 ? null : formatNumeric(numericDivide(sum, { units: BigInt(count), scale: 0 }));
    return { count, sum, averageText };
  }

  /** A copy that later adds leave as it is. */
  clone(): DurationTable {
    const copy = new DurationTable(1);
    copy.heads = this.heads.slice();
    copy.remainders = this.remainders.slice();
    copy.scaleCounts = this.scaleCounts.slice();
    this.overflow.forEach((units, cell) => copy.overflow.set(cell, units));
    this.exactScales.forEach((scales, cell) => copy.exactScales.set(cell, new Map(scales)));
    return copy;
  }

  private carry(cell: number, units: bigint): void {
    this.overflow.set(cell, (this.overflow.get(cell) ?? 0n) + units);
  }

  /** Grows the table to hold `cell`. */
  private reach(cell: number): void {
    if (HEAD * (cell + 1) <= this.heads.length) return;
    let cells = this.heads.length / HEAD;
    while (cells <= cell) cells *= 2;
    const heads = new Float64Array(HEAD * cells);
    heads.set(this.heads);
    this.heads = heads;
    const remainders = new Int32Array(REMAINDERS * cells);
    remainders.set(this.remainders);
    this.remainders = remainders;
    const scaleCounts = new Int32Array(STEPS * cells);
    scaleCounts.set(this.scaleCounts);
    this.scaleCounts = scaleCounts;
  }
}
