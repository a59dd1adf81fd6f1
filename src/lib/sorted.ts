/** Searches in ascending arrays of numbers. */

/** Where the first value at or after `value` is in the ascending `values` (its length when none is). */
export function lowerBound(values: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (values[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
