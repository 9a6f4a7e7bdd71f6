// Calendar months of a period (no DOM here: the tests use it too).

/** Every month from `from` to `to` (YYYY-MM-DD), as YYYY-MM: the month chart shows empty months too. */
export function monthsBetween(from: string, to: string): string[] {
  const months: string[] = [];
  let [y, m] = [Number(from.slice(0, 4)), Number(from.slice(5, 7))];
  const [ty, tm] = [Number(to.slice(0, 4)), Number(to.slice(5, 7))];
  // At most 20 years of columns, whatever the dates typed.
  while ((y < ty || (y === ty && m <= tm)) && months.length < 240) {
    months.push(`${y}-${String(m).padStart(2, '0')}`);
    [y, m] = m === 12 ? [y + 1, 1] : [y, m + 1];
  }
  return months;
}
