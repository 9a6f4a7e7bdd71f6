// The demo's identity and bank numbers (scripts/demo/identities.ts), checked by an independent reading of the two
// standards and by the validators the oa subgraph applies to every employee.
import { describe, expect, it } from 'vitest';
import { bankCardNumber, demoIdentity, idCheckCharacter, luhnCheckDigit, residentIdNumber } from '../../scripts/demo/identities.ts';
import { PEOPLE } from '../../scripts/demo/organisation.ts';
import { validBankAccount, validIdNumber, validPhone } from '../../subgraphs/oa/validation.ts';

/** GB 11643-1999 as printed in the standard: the weights and the table from S mod 11 to the check character. */
function idNumberValid(id: string): boolean {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const table = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
  if (!/^\d{17}[\dX]$/.test(id)) return false;
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(id[i]) * weights[i];
  return table[s % 11] === id[17];
}

/** Luhn over the whole number: double every second digit from the right, sum the digits of the products. */
function luhnValid(number: string): boolean {
  const digits = [...number].reverse().map(Number);
  const sum = digits.reduce((acc, d, i) => acc + (i % 2 === 1 ? [0, 2, 4, 6, 8, 1, 3, 5, 7, 9][d] : d), 0);
  return sum % 10 === 0;
}

describe('resident identity numbers', () => {
  it('computes the check character of the standard', () => {
    // The specimen number of the standard's examples: 北京市朝阳区, born 1949-12-31, check character X.
    expect(idCheckCharacter('11010519491231002')).toBe('X');
    expect(residentIdNumber({ region: '110105', birthDate: '1949-12-31', sequence: 2 })).toBe('11010519491231002X');
    for (let seq = 0; seq < 1000; seq += 37) {
      const id = residentIdNumber({ region: '310101', birthDate: '1990-02-28', sequence: seq });
      expect(idNumberValid(id)).toBe(true);
      // Any other last character is wrong.
      expect(idNumberValid(id.slice(0, 17) + (id[17] === '0' ? '1' : '0'))).toBe(false);
    }
  });

  it('refuses parts that make no number', () => {
    expect(() => residentIdNumber({ region: '3101', birthDate: '1990-01-01', sequence: 1 })).toThrow('region must be 6 digits');
    expect(() => residentIdNumber({ region: '310101', birthDate: '19900101', sequence: 1 })).toThrow('birthDate must be YYYY-MM-DD');
    expect(() => residentIdNumber({ region: '310101', birthDate: '1990-01-01', sequence: 1000 })).toThrow('sequence must be 0 to 999');
  });
});

describe('bank card numbers', () => {
  it('computes the Luhn check digit', () => {
    expect(luhnCheckDigit('7992739871')).toBe('3');
    for (let account = 1; account < 1e12; account *= 7) {
      const card = bankCardNumber('622202', account);
      expect(card).toMatch(/^622202\d{13}$/);
      expect(luhnValid(card)).toBe(true);
      expect(luhnValid(card.slice(0, 18) + String((Number(card[18]) + 1) % 10))).toBe(false);
    }
  });

  it('refuses an issuer outside UnionPay and an account out of range', () => {
    expect(() => bankCardNumber('412345', 1)).toThrow('UnionPay');
    expect(() => bankCardNumber('622202', 1e12)).toThrow('account must be');
  });
});

describe('the demo people', () => {
  const identities = PEOPLE.map((p, i) => ({ person: p, ...demoIdentity(i, p) }));

  it('have numbers the oa subgraph accepts, each their own', () => {
    for (const { person, idNumber, bankAccount, phone } of identities) {
      expect(idNumberValid(idNumber), idNumber).toBe(true);
      expect(luhnValid(bankAccount), bankAccount).toBe(true);
      expect(validIdNumber(idNumber)).toBe(idNumber);
      expect(validBankAccount(bankAccount)).toBe(bankAccount);
      expect(validPhone(phone)).toBe(phone);
      // Birth date and sex as the person's record says (the 17th digit is odd for men).
      expect(idNumber.slice(6, 14)).toBe(person.birthDate.replaceAll('-', ''));
      expect(Number(idNumber[16]) % 2).toBe(person.sex === 'M' ? 1 : 0);
    }
    for (const field of ['idNumber', 'bankAccount', 'phone'] as const) expect(new Set(identities.map((x) => x[field])).size).toBe(PEOPLE.length);
  });

  it('are the same on every run', () => {
    // 王建国, born 1968-03-12 in 上海市黄浦区 (a man: sequence 101); 陈杰, 1994-07-08, 北京市朝阳区, 交通银行.
    expect(demoIdentity(0, PEOPLE[0])).toEqual({ idNumber: '31010119680312101X', bankAccount: '6222028800001047294', phone: '13900001000' });
    expect(demoIdentity(9, PEOPLE[9])).toEqual({ idNumber: '110105199407081193', bankAccount: '6222628800713767464', phone: '13900001009' });
  });
});
