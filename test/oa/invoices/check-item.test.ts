import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CREDIT_CODE_ALPHABET, creditCodeProblem, isCreditCode } from '../../../platform/credit-code.ts';
import { checkAgainstItem } from '../../../subgraphs/oa/invoices/check-item.ts';
import { parseFullyDigitalInvoice } from '../../../subgraphs/oa/invoices/fully-digital.ts';

const invoice = parseFullyDigitalInvoice(readFileSync(new URL('./fixtures/normal.xml', import.meta.url)));
const credit = parseFullyDigitalInvoice(readFileSync(new URL('./fixtures/credit.xml', import.meta.url)));
const company = { taxId: '91440300MA5G12345L' };
const item = { invoiceNo: '26442000000012345678', amountFen: 127200, occurredOn: '2026-09-01' };
const P = 'input.items[1]';

/**
 * The GB 32100-2015 check character computed here independently of platform/credit-code.ts: weights as powers of 3
 * modulo 31, character values from the standard's table (digits, then capitals without I, O, S, V, Z).
 */
function checkCharacter(first17: string): string {
  const table = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += table.indexOf(first17[i]!) * (3 ** i % 31);
  return table[(31 - (sum % 31)) % 31]!;
}

describe('checkAgainstItem', () => {
  it('finds nothing when the invoice supports the item', () => {
    expect(checkAgainstItem(invoice, item, company, P)).toEqual([]);
    // Compared normalised: case and surrounding spaces of the item's number and the company's id do not matter.
    expect(checkAgainstItem(invoice, { ...item, invoiceNo: ' 26442000000012345678 ', occurredOn: '2026-09-03' }, { taxId: ' 91440300ma5g12345l ' }, P)).toEqual([]);
  });

  it('names the invoice number field', () => {
    expect(checkAgainstItem(invoice, { ...item, invoiceNo: '26442000000012345679' }, company, P)).toEqual([
      { field: 'input.items[1].invoiceNo', message: 'input.items[1].invoiceNo 26442000000012345679 differs from the invoice\'s number 26442000000012345678' },
    ]);
    expect(checkAgainstItem(invoice, { ...item, invoiceNo: null }, company, P).map((m) => m.field)).toEqual(['input.items[1].invoiceNo']);
  });

  it('names the amount field, to the fen', () => {
    expect(checkAgainstItem(invoice, { ...item, amountFen: 127201 }, company, P)).toEqual([
      { field: 'input.items[1].amount', message: 'input.items[1].amount 1272.01 differs from the invoice total 1272.00' },
    ]);
  });

  it('names the buyer when the invoice was not issued to the company', () => {
    expect(checkAgainstItem(invoice, item, { taxId: '91110105MA00P8L2RU' }, P)).toEqual([
      { field: 'input.items[1].invoice.buyerTaxId', message: 'invoice 26442000000012345678 was issued to buyer tax id 91440300MA5G12345L, not to the company (91110105MA00P8L2RU)' },
    ]);
    const individual = { ...invoice, buyer: { name: '张三', taxId: null } };
    expect(checkAgainstItem(individual, item, company, P).map((m) => m.field)).toEqual(['input.items[1].invoice.buyerTaxId']);
  });

  it('skips the buyer when no company tax id is configured (null), checking the rest', () => {
    expect(checkAgainstItem(invoice, item, null, P)).toEqual([]);
    expect(checkAgainstItem(invoice, { ...item, amountFen: 1 }, null, P).map((m) => m.field)).toEqual(['input.items[1].amount']);
  });

  it('names the expense date when the invoice was issued after it', () => {
    expect(checkAgainstItem(invoice, { ...item, occurredOn: '2026-08-31' }, company, P)).toEqual([
      { field: 'input.items[1].occurredOn', message: 'invoice 26442000000012345678 was issued on 2026-09-01, after the expense on 2026-08-31' },
    ]);
  });

  it('lists every mismatch at once, and refuses a red invoice as support', () => {
    const all = checkAgainstItem(invoice, { invoiceNo: 'X1', amountFen: 1, occurredOn: '2026-01-01' }, { taxId: '91110105MA00P8L2RU' }, 'input.items[0]');
    expect(all.map((m) => m.field)).toEqual(['input.items[0].invoiceNo', 'input.items[0].amount', 'input.items[0].invoice.buyerTaxId', 'input.items[0].occurredOn']);
    const red = checkAgainstItem(credit, { ...item, invoiceNo: credit.invoiceNumber, amountFen: 106000, occurredOn: '2026-09-05' }, company, P);
    expect(red).toEqual([{ field: 'input.items[1].amount', message: 'invoice 26442000000087654321 is a red (credit) invoice of -1060.00: it supports no expense' }]);
  });

  it('refuses a company tax id that is no unified social credit code (a configuration error, not an input one)', () => {
    expect(() => checkAgainstItem(invoice, item, { taxId: '91440300MA5G12345X' }, P)).toThrow(/COMPANY_TAX_ID is not a unified social credit code/);
  });
});

describe('统一社会信用代码 check character (GB 32100-2015)', () => {
  it('accepts codes whose check character is right', () => {
    for (const first17 of ['91440300MA5G12345', '91110105MA00P8L2R', '91310115093498660', '12100000400000624', '51100000500012345', 'Y1440300MA5GXYQ0A']) {
      const code = first17 + checkCharacter(first17);
      expect(creditCodeProblem(code), code).toBeNull();
      expect(isCreditCode(code)).toBe(true);
    }
    // Two codes as they appear on issued invoices.
    expect(isCreditCode('91110105MA00P8L2RU')).toBe(true);
    expect(isCreditCode('913101150934986600')).toBe(true);
  });

  it('refuses every other check character', () => {
    const first17 = '91440300MA5G12345';
    const right = checkCharacter(first17);
    for (const c of CREDIT_CODE_ALPHABET.replace(right, '')) {
      expect(creditCodeProblem(first17 + c)).toBe(`check character is ${c}, expected ${right} (GB 32100-2015)`);
    }
  });

  it('refuses a wrong length or a character outside the alphabet', () => {
    expect(creditCodeProblem('91440300MA5G1234')).toBe('expected 18 characters, got 16');
    expect(creditCodeProblem('91440300MA5G1234IL')).toBe('"I" is not a character of a unified social credit code (GB 32100-2015)');
    expect(creditCodeProblem('91440300ma5g12345l')).toBe('"m" is not a character of a unified social credit code (GB 32100-2015)');
  });
});
