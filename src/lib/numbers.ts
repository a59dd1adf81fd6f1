/**
 * Numbers as the API (Python) stores them: floats rounded half-even on their exact
 * binary value, and PostgreSQL decimals rounded half-even on their decimal digits.
 */

/** A value that Python holds as a float, so JSON writes it with a fraction (`100.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
  toJSON(): number {
    return this.value;
  }
}

/** A value that Python holds as a `Decimal`; the API's JSON encoder stores it as a string. */
export type DecimalString = string;

/**
 * Python's `round(x, 1)` for a float: the nearest one-decimal value to the exact binary
 * value of `x`, ties to even. A tie, (2n + 1) / 20, is exact in binary only when `x` is an
 * odd number of quarters (6.25, 18.75); every other value has one nearest tenth, which
 * `toFixed(1)` finds on the exact value (it rounds only ties differently, away from zero).
 */
export function roundHalfEven1(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x; // keeps -0, as Python does
  const quarters = x * 4;
  if (Number.isInteger(quarters) && quarters % 2 !== 0 && Math.abs(quarters) < 2 ** 50) {
    // |x| × 10 = 2.5 × |quarters|: exact, halfway between two tenths.
    const below = Math.floor(Math.abs(x) * 10);
    const even = below % 2 === 0 ? below : below + 1;
    return (x < 0 ? -even : even) / 10;
  }
  return Number(x.toFixed(1));
}

/** `part / whole * 100` rounded as the API rounds it, evaluated in the same order. */
export function percent1(part: number, whole: number): number {
  return roundHalfEven1((part / whole) * 100);
}

/** A decimal number as an exact scaled integer: value = units / 10^scale. */
interface Scaled {
  readonly units: bigint;
  readonly scale: number;
}

function parseDecimal(text: string): Scaled {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) {
    throw new Error(`not a decimal number: ${JSON.stringify(text)}`);
  }
  const fraction = match[3] ?? '';
  const magnitude = BigInt((match[2] || '0') + fraction);
  return { units: match[1] === '-' ? -magnitude : magnitude, scale: fraction.length };
}

/** Divides exactly and rounds the quotient half-even to an integer. */
function divideHalfEven(numerator: bigint, denominator: bigint): bigint {
  if (denominator < 0n) return divideHalfEven(-numerator, -denominator);
  const negative = numerator < 0n;
  const n = negative ? -numerator : numerator;
  let quotient = n / denominator;
  const twiceRemainder = (n % denominator) * 2n;
  if (twiceRemainder > denominator || (twiceRemainder === denominator && quotient % 2n === 1n)) {
    quotient += 1n;
  }
  return negative ? -quotient : quotient;
}

/** Formats tenths as Python's `str(Decimal)` of a one-decimal value ("-0.0" keeps its sign). */
function formatTenths(tenths: bigint, negative: boolean): string {
  const magnitude = tenths < 0n ? -tenths : tenths;
  const whole = magnitude / 10n;
  const digit = magnitude % 10n;
  return `${negative ? '-' : ''}${whole}.${digit}`;
}

/** Tenths of a decimal string, rounded half-even (Python's `round(Decimal(text), 1)`). */
export function decimalToTenths(text: string): bigint {
  const { units, scale } = parseDecimal(text);
  if (scale <= 1) return units * 10n ** BigInt(1 - scale);
  return divideHalfEven(units, 10n ** BigInt(scale - 1));
}

/** Python's `str(round(Decimal(text), 1))`. */
export function roundDecimal1(text: string): DecimalString {
  const negative = text.trim().startsWith('-');
  return formatTenths(decimalToTenths(text), negative);
}

/** Whether a decimal string is zero (Python treats `Decimal('0.000')` as false). */
export function isDecimalZero(text: string): boolean {
  return parseDecimal(text).units === 0n;
}

/**
 * The API's weighted mean of already-rounded one-decimal values: sum(value * weight) / sum(weight),
 * rounded half-even to one decimal. Exact: the quotient is a rational, never a float.
 */
export function weightedMeanTenths(items: ReadonlyArray<{ tenths: bigint; weight: number }>): {
  tenths: bigint;
  negative: boolean;
} {
  let sum = 0n;
  let weights = 0n;
  for (const { tenths, weight } of items) {
    sum += tenths * BigInt(weight);
    weights += BigInt(weight);
  }
  const tenths = divideHalfEven(sum, weights);
  return { tenths, negative: sum < 0n };
}

export { formatTenths };
