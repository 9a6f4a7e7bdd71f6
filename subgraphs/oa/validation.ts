// Input rules for the organisation. Each returns a normalised value or throws BAD_USER_INPUT naming the field.
import { badInput } from '../../platform/graphql.ts';
import { TEXT_FIELDS, requiredText } from '../../platform/text-policy.ts';

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

/** PRC resident identity number (GB 11643-1999): 17 digits, a valid birth date, and the ISO 7064 check character. */
export function validIdNumber(raw: string): string {
  const v = raw.trim().toUpperCase();
  if (!/^\d{17}[\dX]$/.test(v)) throw badInput('idNumber must be 18 characters: 17 digits and a check digit or X', 'idNumber');
  const y = Number(v.slice(6, 10));
  const m = Number(v.slice(10, 12));
  const d = Number(v.slice(12, 14));
  const birth = new Date(Date.UTC(y, m - 1, d));
  if (y < 1900 || birth.getUTCMonth() !== m - 1 || birth.getUTCDate() !== d || birth.getTime() > Date.now()) {
    throw badInput('idNumber holds no valid birth date', 'idNumber');
  }
  const sum = ID_WEIGHTS.reduce((s, w, i) => s + w * Number(v[i]), 0);
  if (ID_CHECK[sum % 11] !== v[17]) throw badInput('idNumber check digit does not match', 'idNumber');
  return v;
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let n = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    sum += n;
  }
  return sum % 10 === 0;
}

/** Bank account: 12 to 30 digits (spaces allowed in input); UnionPay card numbers (62…, 16–19 digits) must pass Luhn. */
export function validBankAccount(raw: string): string {
  const v = raw.replace(/\s+/g, '');
  if (!/^\d{12,30}$/.test(v)) throw badInput('bankAccount must be 12 to 30 digits', 'bankAccount');
  if (v.startsWith('62') && v.length >= 16 && v.length <= 19 && !luhn(v)) throw badInput('bankAccount is not a valid card number (check digit)', 'bankAccount');
  return v;
}

/** Mainland mobile (1xxxxxxxxxx, optional +86) or landline with area code (0xx-xxxxxxxx). */
export function validPhone(raw: string): string {
  const v = raw.replace(/[\s]/g, '').replace(/^\+86-?/, '');
  if (!/^1[3-9]\d{9}$/.test(v) && !/^0\d{2,3}-?\d{7,8}$/.test(v)) throw badInput('phone must be a mainland mobile or a landline with area code', 'phone');
  return v;
}

export function validEmail(raw: string): string {
  const v = raw.trim();
  if (v.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) throw badInput('email is not a valid address', 'email');
  return v;
}

export function validCode(raw: string, field: string): string {
  const v = raw.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(v)) throw badInput(`${field} must be 1 to 32 letters, digits, '-' or '_'`, field);
  return v;
}

/** Employee and department names: single-line text (platform/text-policy.ts). */
export function validName(raw: string, field: string, max = TEXT_FIELDS.name.max): string {
  return requiredText(raw, field, { ...TEXT_FIELDS.name, max });
}
