// The books and reports of a period close (issue 19 §1), generated from vouchers in the database by the real driver
// against the engine: the trial balance equals totals computed here from the vouchers (BigInt, every account,
// including sums past 2^53 fen), openings carry balance-sheet accounts across years and profit and loss into retained
// earnings, every document is a PDF/A the archive's four-properties file check passes, and its text, Chinese
// included, is extracted by a reader library (pdf.js).
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { ObjectId } from 'mongodb';
import type { Model } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { archiveModels, type VoucherDoc } from '../../subgraphs/archive/models.ts';
import { fenText } from '../../subgraphs/archive/close/accounts.ts';
import { BooksError, trialBalance } from '../../subgraphs/archive/close/books.ts';
import { type GeneratedDocument, generatePeriodDocuments } from '../../subgraphs/archive/close/generate.ts';
import { checkFiles } from '../../subgraphs/archive/originals/check.ts';
import { useMongo } from '../helpers/mongo.ts';
import { pdfText } from '../helpers/pdf-text.ts';

const m = useMongo('period-books');
let Voucher: Model<VoucherDoc>;

const EXPENSES = [
  { code: '6602.01', name: '管理费用-差旅费', category: 'TRAVEL' },
  { code: '6602.02', name: '管理费用-业务招待费', category: 'MEALS' },
  { code: '6602.03', name: '管理费用-办公费', category: 'OFFICE' },
];
const PAYABLE = { code: '2241', name: '其他应付款' };
const BANK = { code: '1002', name: '银行存款' };
const DEPARTMENTS = ['dept-a', 'dept-b', 'dept-c'];

/** A small deterministic generator: the same vouchers every run. */
let seed = 20261207;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};

let serial = 0;
function voucher(fiscalYear: number, period: number, entries: Array<{ account: { code: string; name: string }; debit: number; credit: number }>, source: { departmentId: string; category: string }): VoucherDoc {
  const n = ++serial;
  const day = String(1 + rand(28)).padStart(2, '0');
  const debit = entries.reduce((s, e) => s + e.debit, 0);
  return {
    _id: new ObjectId(),
    voucherNo: `记-${fiscalYear}-${String(period).padStart(2, '0')}-${String(n).padStart(5, '0')}`,
    claimId: `claim-${n}`,
    claimNo: `BX-${n}`,
    fiscalYear,
    period,
    date: `${fiscalYear}-${String(period).padStart(2, '0')}-${day}`,
    entries: entries.map((e) => ({ summary: `BX-${n} 报销 ${e.account.name}`, accountCode: e.account.code, accountName: e.account.name, debitFen: e.debit, creditFen: e.credit })),
    debitTotalFen: debit,
    creditTotalFen: debit,
    source: { ...source, title: `报销 ${n}`, applicantId: 'e1', applicantName: null, approvedAt: new Date(), invoiceNumbers: [], totalFen: debit },
    createdAt: new Date(),
  } as VoucherDoc;
}

/** An expense claim's voucher (debit the expense, credit the payable) or a payment (debit the payable, credit the bank). */
function expense(year: number, period: number, fen: number): VoucherDoc {
  const e = EXPENSES[rand(EXPENSES.length)];
  return voucher(year, period, [{ account: e, debit: fen, credit: 0 }, { account: PAYABLE, debit: 0, credit: fen }], { departmentId: DEPARTMENTS[rand(3)], category: e.category });
}
const payment = (year: number, period: number, fen: number) => voucher(year, period, [{ account: PAYABLE, debit: fen, credit: 0 }, { account: BANK, debit: 0, credit: fen }], { departmentId: 'finance', category: 'PAYMENT' });

const all: VoucherDoc[] = [];
beforeAll(async () => {
  Voucher = archiveModels(await m.mongoose()).Voucher;
  await Voucher.init();
  for (let p = 1; p <= 12; p++) for (let i = 0; i < 20; i++) all.push(expense(2025, p, 1 + rand(5_000_000)));
  for (let i = 0; i < 30; i++) all.push(payment(2025, 12, 1 + rand(20_000_000)));
  for (let p = 1; p <= 3; p++) for (let i = 0; i < 150; i++) all.push(expense(2026, p, 1 + rand(5_000_000)));
  // Ten claims of 9.5 × 10^14 fen in March: the payable's movement (9.5 × 10^15 and more) is past 2^53.
  for (let i = 0; i < 10; i++) all.push(expense(2026, 3, 950_000_000_000_000));
  for (let i = 0; i < 40; i++) all.push(payment(2026, 3, 1 + rand(30_000_000)));
  // In another order than the ledger's: the books sort them.
  await m.db.collection('vouchers').insertMany([...all].reverse());
});

/** The trial balance of 2026-03 as the rules define it, computed here from the vouchers themselves. */
function expected() {
  const rows = new Map<string, { opening: bigint; debit: bigint; credit: bigint }>();
  const row = (code: string) => rows.get(code) ?? rows.set(code, { opening: 0n, debit: 0n, credit: 0n }).get(code)!;
  for (const v of all) {
    for (const e of v.entries) {
      const net = BigInt(e.debitFen) - BigInt(e.creditFen);
      if (v.fiscalYear === 2026 && v.period === 3) {
        row(e.accountCode).debit += BigInt(e.debitFen);
        row(e.accountCode).credit += BigInt(e.creditFen);
      } else if (v.fiscalYear === 2026 || !e.accountCode.startsWith('6')) row(e.accountCode).opening += net;
      else row('4104').opening += net; // last year's profit and loss, carried to retained earnings
    }
  }
  return rows;
}

const collect = () => {
  const files = new Map<string, Buffer[]>();
  const sink = (name: string) => {
    const parts: Buffer[] = [];
    files.set(name, parts);
    return new Writable({
      write(chunk: Buffer, _enc, cb) {
        parts.push(chunk);
        cb();
      },
    });
  };
  return { sink, bytes: (name: string) => Buffer.concat(files.get(name) ?? []) };
};

describe('the books of a period', () => {
  let documents: GeneratedDocument[];
  let out: ReturnType<typeof collect>;
  let result: Awaited<ReturnType<typeof generatePeriodDocuments>>;

  beforeAll(async () => {
    out = collect();
    result = await generatePeriodDocuments(Voucher, { fiscalYear: 2026, period: 3 }, { company: '示例有限公司', sink: out.sink, departmentName: (id) => `部门 ${id}`, now: new Date('2026-04-02T08:00:00Z') });
    documents = result.documents;
  }, 120_000);

  it('the trial balance equals the totals computed from the vouchers, to the fen, for every account', () => {
    const want = expected();
    const got = trialBalance(result.books);
    expect(got.map((r) => r.code).sort()).toEqual([...want.keys()].sort());
    for (const r of got) {
      const w = want.get(r.code)!;
      expect({ code: r.code, opening: r.opening, debit: r.debit, credit: r.credit, closing: r.closing }).toEqual({ code: r.code, ...w, closing: w.opening + w.debit - w.credit });
    }
    // Past 2^53: a number sum would have lost fen here.
    expect(got.find((r) => r.code === PAYABLE.code)!.credit > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    // Double entry holds on every column.
    const sum = (f: (r: (typeof got)[number]) => bigint) => got.reduce((s, r) => s + f(r), 0n);
    expect([sum((r) => r.opening), sum((r) => r.debit - r.credit), sum((r) => r.closing)]).toEqual([0n, 0n, 0n]);
    expect(result.books.vouchers).toBe(all.filter((v) => v.fiscalYear === 2026 && v.period === 3).length);
  });

  it('produces the trial balance, general ledger, a detail ledger per account, and the monthly and quarterly reports, filed as their kinds', () => {
    const codes = [...expected().keys()].sort();
    expect(documents.map((d) => [d.kind, d.name])).toEqual([
      ['GENERAL_LEDGER', '2026-03-trial-balance.pdf'],
      ['GENERAL_LEDGER', '2026-03-general-ledger.pdf'],
      ...codes.map((c) => ['SUBSIDIARY_LEDGER', `2026-03-detail-ledger-${c}.pdf`]),
      ['MONTHLY_REPORT', '2026-03-monthly-report.pdf'],
      ['QUARTERLY_REPORT', '2026-Q1-quarterly-report.pdf'],
    ]);
    for (const d of documents) {
      const bytes = out.bytes(d.name);
      expect([d.size, d.sha256]).toEqual([bytes.length, createHash('sha256').update(bytes).digest('hex')]);
    }
  });

  it('every document passes the archive’s four-properties file checks (PDF recognised and well-formed, digest, no encryption, no active content) and is PDF/A', () => {
    for (const d of documents) {
      const bytes = out.bytes(d.name);
      const results = checkFiles([{ file: { fileId: d.name, name: d.name, mediaType: d.mediaType, size: d.size, sha256: d.sha256, sourceAttachmentId: '' }, bytes }]);
      expect(results.filter((r) => !r.passed)).toEqual([]);
      const text = bytes.toString('latin1');
      expect(text).toContain('<pdfaid:part>2</pdfaid:part>');
      expect(text).toContain('/FontFile2');
      expect(text).not.toMatch(/\/(Encrypt|JavaScript|JS|Launch)\b/);
    }
  });

  it('a reader library extracts the text, Chinese and amounts included', async () => {
    const tb = (await pdfText(out.bytes('2026-03-trial-balance.pdf'))).join('\n');
    expect(tb).toContain('科目余额表');
    expect(tb).toContain('示例有限公司');
    expect(tb).toContain('管理费用-差旅费');
    expect(tb).toContain('利润分配');
    const payable = trialBalance(result.books).find((r) => r.code === PAYABLE.code)!;
    expect(tb).toContain(fenText(-payable.closing));

    const ledger = documents.find((d) => d.accountCode === '6602.01')!;
    const pages = await pdfText(out.bytes(ledger.name));
    expect(pages.length).toBe(ledger.pages);
    expect(pages.length).toBeGreaterThan(1);
    const text = pages.join('\n');
    expect(text).toContain('明细账 6602.01 管理费用-差旅费');
    expect(text).toContain('本月合计');
    expect(text).toContain('本年累计');
    const march = all.filter((v) => v.fiscalYear === 2026 && v.period === 3 && v.entries.some((e) => e.accountCode === '6602.01'));
    for (const v of march.slice(0, 5)) expect(text).toContain(v.voucherNo);

    const report = (await pdfText(out.bytes('2026-Q1-quarterly-report.pdf'))).join('\n');
    expect(report).toContain('第 1 季度财务报告');
    expect(report).toContain('部门 dept-a');
  });
});

it('at the year’s end the quarterly and the annual report are added, filed as their kinds', async () => {
  const { documents, books } = await generatePeriodDocuments(Voucher, { fiscalYear: 2025, period: 12 }, { company: '示例有限公司', sink: collect().sink });
  expect(documents.filter((d) => d.kind.endsWith('_REPORT')).map((d) => [d.kind, d.name])).toEqual([
    ['MONTHLY_REPORT', '2025-12-monthly-report.pdf'],
    ['QUARTERLY_REPORT', '2025-Q4-quarterly-report.pdf'],
    ['ANNUAL_REPORT', '2025-annual-report.pdf'],
  ]);
  // December's movements: twenty claims and thirty payments.
  expect(books.vouchers).toBe(50);
});

it('a voucher that does not balance stops the books, naming it', async () => {
  const bad = voucher(2027, 1, [{ account: EXPENSES[0], debit: 100, credit: 0 }, { account: PAYABLE, debit: 0, credit: 99 }], { departmentId: 'dept-a', category: 'TRAVEL' });
  await m.db.collection('vouchers').insertOne(bad);
  await expect(generatePeriodDocuments(Voucher, { fiscalYear: 2027, period: 1 }, { company: 'x', sink: collect().sink })).rejects.toThrow(BooksError);
  await expect(generatePeriodDocuments(Voucher, { fiscalYear: 2027, period: 1 }, { company: 'x', sink: collect().sink })).rejects.toThrow(`voucher ${bad.voucherNo} does not balance (debits 100 fen, credits 99 fen)`);
});
