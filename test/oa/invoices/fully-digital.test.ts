import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvoiceParseError, invoiceDate, parseFullyDigitalInvoice } from '../../../subgraphs/oa/invoices/fully-digital.ts';
import { MAX_XML_BYTES } from '../../../subgraphs/oa/invoices/xml.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const text = (name: string) => fixture(name).toString('utf8');
const bytes = (s: string) => new TextEncoder().encode(s);

function parseError(input: Uint8Array): string {
  try {
    parseFullyDigitalInvoice(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InvoiceParseError);
    return (err as Error).message;
  }
  throw new Error('expected an InvoiceParseError');
}

describe('数电票 XML', () => {
  it('reads every field of a blue invoice with two lines, money exact to the fen', () => {
    expect(parseFullyDigitalInvoice(fixture('normal.xml'))).toEqual({
      invoiceNumber: '26442000000012345678',
      issueDate: '2026-09-01',
      kind: 'BLUE',
      buyer: { name: '深圳市示例科技有限公司', taxId: '91440300MA5G12345L' },
      seller: { name: '北京示例软件服务有限公司', taxId: '91110105MA00P8L2RU' },
      amountFen: 120000,
      taxFen: 7200,
      totalFen: 127200,
      lines: [
        { name: '*信息技术服务*软件维护服务费', specification: 'V2.1&SaaS', unit: '项', quantity: '1', unitPrice: '1000', amountFen: 100000, taxRate: '0.06', taxFen: 6000 },
        { name: '*现代服务*咨询费', unit: '次', quantity: '3', unitPrice: '66.666666666666667', amountFen: 20000, taxRate: '6%', taxFen: 1200 },
      ],
    });
  });

  it('keeps the invoice number a string with its leading zeros', () => {
    const inv = parseFullyDigitalInvoice(bytes(text('normal.xml').replaceAll('26442000000012345678', '00442000000012345678')));
    expect(inv.invoiceNumber).toBe('00442000000012345678');
  });

  it('reads a red (credit) invoice with negative amounts', () => {
    const inv = parseFullyDigitalInvoice(fixture('credit.xml'));
    expect(inv).toMatchObject({ invoiceNumber: '26442000000087654321', issueDate: '2026-09-05', kind: 'RED', amountFen: -100000, taxFen: -6000, totalFen: -106000 });
    expect(inv.lines).toEqual([{ name: '*信息技术服务*软件维护服务费', unit: '项', quantity: '-1', unitPrice: '1000', amountFen: -100000, taxRate: '0.06', taxFen: -6000 }]);
  });

  it('counts amounts of one fen exactly (0.1 + 0.2 style sums)', () => {
    const xml = text('normal.xml')
      .replace('<TotalAmWithoutTax>1200.00', '<TotalAmWithoutTax>0.30').replace('<TotalTaxAm>72.00', '<TotalTaxAm>0.02')
      .replace('<TotalTax-includedAmount>1272.00', '<TotalTax-includedAmount>0.32')
      .replace('<Amount>1000.00', '<Amount>0.1').replace('<ComTaxAm>60.00', '<ComTaxAm>0.01')
      .replace('<Amount>200.00', '<Amount>0.20').replace('<ComTaxAm>12.00', '<ComTaxAm>0.01');
    const inv = parseFullyDigitalInvoice(bytes(xml));
    expect([inv.amountFen, inv.taxFen, inv.totalFen, inv.lines[0]!.amountFen, inv.lines[1]!.amountFen]).toEqual([30, 2, 32, 10, 20]);
  });

  it('names the missing element', () => {
    expect(parseError(fixture('missing-total.xml'))).toBe('BasicInformation/TotalTax-includedAmount missing');
    expect(parseError(bytes(text('normal.xml').replace(/<BuyerName>[^<]*<\/BuyerName>/, '')))).toBe('BuyerInformation/BuyerName missing');
    expect(parseError(bytes(text('normal.xml').replace(/<SellerIdNum>[^<]*<\/SellerIdNum>/, '')))).toBe('SellerInformation/SellerIdNum missing');
    expect(parseError(bytes(text('normal.xml').replace('<TaxRate>6%</TaxRate>', '')))).toBe('IssuItemInformation[2]/TaxRate missing');
    expect(parseError(bytes(text('normal.xml').replace(/<TaxSupervisionInfo>[\s\S]*<\/TaxSupervisionInfo>/, '').replace(/<EIid>[^<]*<\/EIid>/, '')))).toBe('TaxSupervisionInfo/InvoiceNumber missing');
    expect(parseError(bytes('<Invoice><ID>1</ID></Invoice>'))).toBe('EInvoice root element missing: not a 数电票 XML file');
  });

  it('refuses malformed values, naming the element', () => {
    expect(parseError(bytes(text('normal.xml').replaceAll('26442000000012345678', '2644200000001234567')))).toBe('TaxSupervisionInfo/InvoiceNumber must be 20 digits');
    expect(parseError(bytes(text('normal.xml').replace('<IssueTime>2026-09-01 10:11:15', '<IssueTime>2026-02-30')))).toBe('TaxSupervisionInfo/IssueTime is not a date');
    expect(parseError(bytes(text('normal.xml').replace('<TotalTaxAm>72.00', '<TotalTaxAm>72.001')))).toBe('BasicInformation/TotalTaxAm is not an amount with at most two decimals');
    expect(parseError(bytes(text('normal.xml').replace('<Amount>200.00', '<Amount>2e2')))).toBe('IssuItemInformation[2]/Amount is not an amount with at most two decimals');
    expect(parseError(bytes(text('normal.xml').replace('<BuyerIdNum>91440300MA5G12345L', '<BuyerIdNum>9144-0300')))).toBe('BuyerInformation/BuyerIdNum must be 15 to 20 letters or digits');
  });

  it('checks amount + tax = total and the lines against the totals, to the fen', () => {
    expect(parseError(bytes(text('normal.xml').replace('<TotalTax-includedAmount>1272.00', '<TotalTax-includedAmount>1272.01'))))
      .toBe('TotalAmWithoutTax + TotalTaxAm (127200 fen) differs from TotalTax-includedAmount (127201 fen)');
    const lineOff = text('normal.xml').replace('<Amount>200.00', '<Amount>199.99').replace('<TotaltaxIncludedAmount>212.00', '<TotaltaxIncludedAmount>211.99');
    expect(parseError(bytes(lineOff))).toBe('the IssuItemInformation Amount values add up to 119999 fen, TotalAmWithoutTax says 120000');
    expect(parseError(bytes(text('normal.xml').replace('<ComTaxAm>12.00', '<ComTaxAm>12.01')))).toBe('the IssuItemInformation ComTaxAm values add up to 7201 fen, TotalTaxAm says 7200');
    const mixed = text('normal.xml').replace('<TotalAmWithoutTax>1200.00', '<TotalAmWithoutTax>1344.00').replace('<TotalTaxAm>72.00', '<TotalTaxAm>-72.00');
    expect(parseError(bytes(mixed))).toMatch(/mix signs/);
  });

  it('reads the issue date in the forms issuers write it', () => {
    expect(invoiceDate('2026-03-18')).toBe('2026-03-18');
    expect(invoiceDate('2026-03-18 16:05:42')).toBe('2026-03-18');
    expect(invoiceDate('2026-03-18T16:05:42+08:00')).toBe('2026-03-18');
    expect(invoiceDate('20260318')).toBe('2026-03-18');
    expect(invoiceDate('2024年5月28日')).toBe('2024-05-28');
    expect(invoiceDate('2026-13-01')).toBeNull();
    expect(invoiceDate('18/03/2026')).toBeNull();
  });
});

describe('hostile XML', () => {
  it('refuses a DOCTYPE with entities (billion laughs) without expanding anything', () => {
    const started = Date.now();
    expect(parseError(fixture('billion-laughs.xml'))).toBe('invoice XML has a document type declaration (DOCTYPE/ENTITY), which is not accepted');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses an external entity (XXE)', () => {
    expect(parseError(fixture('xxe.xml'))).toBe('invoice XML has a document type declaration (DOCTYPE/ENTITY), which is not accepted');
  });

  it('leaves undeclared entity references as written, never resolved', () => {
    const inv = parseFullyDigitalInvoice(bytes(text('normal.xml').replace('深圳市示例科技有限公司', '深圳&secret;公司')));
    expect(inv.buyer.name).toBe('深圳&secret;公司');
  });

  it('refuses an oversized file before parsing', () => {
    const big = new Uint8Array(MAX_XML_BYTES + 1).fill(0x20);
    expect(parseError(big)).toBe(`invoice XML is larger than ${MAX_XML_BYTES} bytes`);
  });

  it('refuses deep nesting', () => {
    const deep = `<EInvoice>${'<a>'.repeat(500)}x${'</a>'.repeat(500)}</EInvoice>`;
    expect(parseError(bytes(deep))).toMatch(/^invoice XML could not be read: Maximum nested tags exceeded/);
  });

  it('refuses a huge text value', () => {
    const xml = text('normal.xml').replace('深圳市示例科技有限公司', 'x'.repeat(100_000));
    expect(parseError(bytes(xml))).toBe('BuyerName is longer than 4096 characters');
  });

  it('refuses another encoding, declared or not', () => {
    expect(parseError(bytes(text('normal.xml').replace('encoding="UTF-8"', 'encoding="GBK"')))).toBe('invoice XML declares encoding GBK; only UTF-8 is accepted');
    const latin1 = Buffer.from('<EInvoice><x>caf\xe9</x></EInvoice>', 'latin1');
    expect(parseError(latin1)).toBe('invoice XML is not UTF-8 text');
  });

  it('refuses XML that is not well-formed', () => {
    expect(parseError(bytes('<EInvoice><EInvoiceData></EInvoice>'))).toMatch(/^invoice XML is not well-formed XML \(line 1: /);
    expect(parseError(bytes(''))).toMatch(/^invoice XML is not well-formed XML/);
  });
});
