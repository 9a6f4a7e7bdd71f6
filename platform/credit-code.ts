// 统一社会信用代码 (unified social credit code), GB 32100-2015: 18 characters from a 31-character alphabet (digits and
// capitals without I, O, S, V, Z); the 18th is a check character computed from the first 17 (clause 5, annex: weights
// 3^i mod 31, check = 31 - (Σ value·weight mod 31), 31 read as 0). Pure, so config.ts can validate COMPANY_TAX_ID
// and subgraphs/oa/invoices/check-item.ts can use the same rule (docs/architecture.md, module oa).

export const CREDIT_CODE_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/** Trimmed and upper-cased, the form in which tax ids are compared. */
export function normaliseTaxId(value: string): string {
  return value.trim().toUpperCase();
}

/** The check character for the first 17 characters, or null when one of them is outside the alphabet. */
export function creditCodeCheckCharacter(first17: string): string | null {
  if (first17.length !== 17) return null;
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const value = CREDIT_CODE_ALPHABET.indexOf(first17[i]!);
    if (value < 0) return null;
    sum += value * WEIGHTS[i]!;
  }
  const check = (31 - (sum % 31)) % 31;
  return CREDIT_CODE_ALPHABET[check]!;
}

/** Why `code` (already normalised) is not a valid 统一社会信用代码, or null when it is. */
export function creditCodeProblem(code: string): string | null {
  if (code.length !== 18) return `expected 18 characters, got ${code.length}`;
  const bad = [...code].find((c) => !CREDIT_CODE_ALPHABET.includes(c));
  if (bad !== undefined) return `"${bad}" is not a character of a unified social credit code (GB 32100-2015)`;
  const expected = creditCodeCheckCharacter(code.slice(0, 17));
  if (expected !== code[17]) return `check character is ${code[17]}, expected ${expected} (GB 32100-2015)`;
  return null;
}

export function isCreditCode(code: string): boolean {
  return creditCodeProblem(code) === null;
}
