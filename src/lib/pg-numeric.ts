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
/** The scales a per-row quotient can have: 0 … SUM_SCALE. */
const SCALES = SUM_SCALE + 1;

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

  constructor(cells = 16) {
    this.heads = new Float64Array(HEAD * cells);
    this.remainders = new Int32Array(REMAINDERS * cells);
  }

  // The COPY pass's hot path: kept as small as it is so that the compiler inlines it into the fold.
  /** Adds one duration of `micros` microseconds to `cell` (beyond ±2^53 it takes the exact path). */
  add(cell: number, micros: number): void {
    const magnitude = micros < 0 ? -micros : micros;
    if (magnitude > Number.MAX_SAFE_INTEGER) {
      this.addExact(cell, BigInt(micros));
      return;
    }
    this.reach(cell);
    const heads = this.heads;
    const at = HEAD * cell;
    heads[at + COUNT]!++;
    let step = 0;
    while (magnitude >= STEP_LIMITS[step]!) step++;
    const scale = STEP_SCALES[step]!;
    if (scale + 1 > heads[at + SCALE_PLUS_ONE]!) heads[at + SCALE_PLUS_ONE] = scale + 1;
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
    this.remainders[REMAINDERS * cell + SLOT_OF_STEP[step]! * 6 + v]! += sign;
    const wholes = heads[at + WHOLES]! + sign * u;
    if (wholes > WHOLES_LIMIT || wholes < -WHOLES_LIMIT) {
      this.carry(cell, BigInt(wholes) * WHOLE_UNITS);
      heads[at + WHOLES] = 0;
    } else {
      heads[at + WHOLES] = wholes;
    }
  }

  /**
   * Adds one duration given exactly (any int8), through the general division; returns the
   * quotient's scale. `weight` -1 takes one out (see SignedDurationTable): both paths add the
   * same rounded quotient, so taking out by this one leaves what adding the others gives.
   */
  addExact(cell: number, micros: bigint, weight: 1 | -1 = 1): number {
    this.reach(cell);
    const at = HEAD * cell;
    this.heads[at + COUNT]! += weight;
    const quotient = numericDivide({ units: micros, scale: EPOCH_SCALE }, SIXTY);
    if (quotient.scale + 1 > this.heads[at + SCALE_PLUS_ONE]!) this.heads[at + SCALE_PLUS_ONE] = quotient.scale + 1;
    this.carry(cell, BigInt(weight) * quotient.units * pow10(SUM_SCALE - quotient.scale));
    return quotient.scale;
  }

  /** Takes out one duration added before: only a SignedDurationTable can. */
  remove(cell: number, micros: number | bigint): void {
    void cell;
    void micros;
    throw new Error('durations can only be taken out of a SignedDurationTable');
  }

  /** The display scale + 1 of a cell (0: empty), and setting it (a row of the largest scale taken out). */
  protected scalePlusOne(cell: number, value?: number): number {
    const at = HEAD * cell + SCALE_PLUS_ONE;
    if (value !== undefined) this.heads[at] = value;
    return this.heads[at]!;
  }

  /** A copy that later adds leave as it is (its sums only: nothing is taken out of it). */
  clone(): DurationTable {
    const copy = new DurationTable(1);
    copy.heads = this.heads.slice();
    copy.remainders = this.remainders.slice();
    this.overflow.forEach((units, cell) => copy.overflow.set(cell, units));
    return copy;
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
  }
}

/**
 * A DurationTable that rows can be taken out of (`remove`, for a pass kept between runs): the
 * display scale is the largest scale of the rows a cell holds, so it counts rows per scale
 * besides, and taking out the last row of the largest gives back the next one down.
 */
export class SignedDurationTable extends DurationTable {
  private scaleCounts = new Int32Array(SCALES * 16);

  override add(cell: number, micros: number): void {
    super.add(cell, micros);
    const magnitude = micros < 0 ? -micros : micros;
    // Beyond 2^53 µs the add went through addExact, which counted its scale.
    if (magnitude > Number.MAX_SAFE_INTEGER) return;
    let step = 0;
    while (magnitude >= STEP_LIMITS[step]!) step++;
    this.countScale(cell, STEP_SCALES[step]!, 1);
  }

  override addExact(cell: number, micros: bigint, weight: 1 | -1 = 1): number {
    const scale = super.addExact(cell, micros, weight);
    this.countScale(cell, scale, weight);
    return scale;
  }

  /** Rare (a few rows a run), so by the exact path. */
  override remove(cell: number, micros: number | bigint): void {
    this.addExact(cell, BigInt(micros), -1);
  }

  private countScale(cell: number, scale: number, weight: 1 | -1): void {
    if (scale < 0 || scale >= SCALES) throw new Error(`a duration divided at scale ${scale}, beyond ${SCALES - 1}`);
    if (SCALES * (cell + 1) > this.scaleCounts.length) {
      const grown = new Int32Array(Math.max(2 * this.scaleCounts.length, SCALES * (cell + 1)));
      grown.set(this.scaleCounts);
      this.scaleCounts = grown;
    }
    const left = (this.scaleCounts[SCALES * cell + scale]! += weight);
    if (weight > 0 || left !== 0 || scale + 1 !== this.scalePlusOne(cell)) return;
    let largest = scale;
    while (largest >= 0 && this.scaleCounts[SCALES * cell + largest] === 0) largest--;
    this.scalePlusOne(cell, largest + 1);
  }
}
