// Generates the books and reports of a period from its vouchers (issue 19 §1): one streamed read (books.ts) during
// which every account's detail ledger is printed, then the trial balance, the general ledger and the expense reports
// (quarterly at a quarter's end, annual at the year's), each a PDF/A file written to the sink the caller gives (the
// archive's bucket, a file), with its size and SHA-256 for the manifest of the records that will hold them.
import { createHash } from 'node:crypto';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Model } from 'mongoose';
import type { ArchiveSettings } from '../context.ts';
import type { VoucherDoc } from '../models.ts';
import type { ArchiveKind } from '../retention.ts';
import { quarterOf } from './accounts.ts';
import { type AccountBook, type PeriodBooks, type PeriodRef, readBooks } from './books.ts';
import { DetailLedger, printExpenseReport, printGeneralLedger, printTrialBalance } from './documents.ts';
import { TablePdf } from './pdf.ts';

export interface GeneratedDocument {
  /** The archive kind it is filed as (retention.ts): ledgers ZB 30 years, monthly and quarterly reports BG 10, annual permanent. */
  kind: Extract<ArchiveKind, 'GENERAL_LEDGER' | 'SUBSIDIARY_LEDGER' | 'MONTHLY_REPORT' | 'QUARTERLY_REPORT' | 'ANNUAL_REPORT'>;
  title: string;
  /** File name: `<year>-<MM>-<what>.pdf`. */
  name: string;
  mediaType: 'application/pdf';
  size: number;
  sha256: string;
  pages: number;
  /** The account of a detail ledger. */
  accountCode?: string;
}

export interface GenerateOptions {
  /** The unit's name, printed on every page. */
  company: string;
  /** Where the file of each name goes; resolved once the sink has it all (its 'finish'). */
  sink: (name: string) => Writable;
  departmentName?: (id: string) => string;
  categoryName?: (category: string) => string;
  now?: Date;
}

/** The unit's name printed on its documents: COMPANY_NAME, or the fonds when it is not set. */
export const companyOf = (settings: Pick<ArchiveSettings, 'companyName' | 'fonds'>): string => settings.companyName ?? `全宗 ${settings.fonds}`;

/** Writes one document through a hash to its sink. */
async function written(opts: GenerateOptions, doc: Omit<GeneratedDocument, 'size' | 'sha256' | 'pages' | 'mediaType'>, subtitle: string, print: (pdf: TablePdf) => Promise<void>): Promise<GeneratedDocument> {
  const { pdf, finish } = openDocument(opts, doc, subtitle);
  await print(pdf);
  return finish();
}

/** A PDF/A document of tables written through a hash to the sink of its name; `finish` ends it and gives its size and digest. */
export function openDocument<D extends { title: string; name: string }>(opts: Pick<GenerateOptions, 'company' | 'sink' | 'now'>, doc: D, subtitle: string): { pdf: TablePdf; finish: () => Promise<D & { mediaType: 'application/pdf'; size: number; sha256: string; pages: number }> } {
  const hash = createHash('sha256');
  let size = 0;
  const through = new PassThrough();
  through.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    size += chunk.length;
  });
  const stored = pipeline(through, opts.sink(doc.name));
  // A sink that fails fails the document when it is finished; until then its rejection is held here.
  stored.catch(() => undefined);
  const pdf = new TablePdf(through, { title: doc.title, subtitle, author: opts.company, createdAt: opts.now ?? new Date() });
  return {
    pdf,
    finish: async () => {
      const pages = await pdf.end();
      await stored;
      return { ...doc, mediaType: 'application/pdf' as const, size, sha256: hash.digest('hex'), pages };
    },
  };
}

/** The books and every document of the period `ref`. */
export async function generatePeriodDocuments(Voucher: Model<VoucherDoc>, ref: PeriodRef, opts: GenerateOptions): Promise<{ books: PeriodBooks; documents: GeneratedDocument[] }> {
  const { fiscalYear, period } = ref;
  const month = `${fiscalYear}-${String(period).padStart(2, '0')}`;
  const heading = `${fiscalYear} 年 ${period} 月`;
  const subtitle = `${opts.company}    ${heading}    单位：元`;
  const ledgers = new Map<string, { ledger: DetailLedger; finish: () => Promise<GeneratedDocument> }>();
  const ledgerOf = async (a: AccountBook) => {
    let l = ledgers.get(a.code);
    if (!l) {
      const { pdf, finish } = openDocument(opts, { kind: 'SUBSIDIARY_LEDGER' as const, title: `明细账 ${a.code} ${a.name}`, name: `${month}-detail-ledger-${a.code}.pdf`, accountCode: a.code }, subtitle);
      ledgers.set(a.code, (l = { ledger: await DetailLedger.open(pdf, a, period), finish }));
    }
    return l.ledger;
  };
  const books = await readBooks(Voucher, ref, async (account, line) => (await ledgerOf(account)).line(line));
  // Accounts with a balance and no line this month still get their ledger (opening, totals, closing).
  for (const a of books.accounts) await ledgerOf(a);
  const documents: GeneratedDocument[] = [];
  for (const [, l] of [...ledgers].sort(([a], [b]) => (a < b ? -1 : 1))) {
    await l.ledger.close();
    documents.push(await l.finish());
  }
  const names = { departmentName: opts.departmentName, categoryName: opts.categoryName };
  documents.unshift(
    await written(opts, { kind: 'GENERAL_LEDGER', title: '科目余额表', name: `${month}-trial-balance.pdf` }, subtitle, (pdf) => printTrialBalance(pdf, books)),
    await written(opts, { kind: 'GENERAL_LEDGER', title: '总账', name: `${month}-general-ledger.pdf` }, subtitle, (pdf) => printGeneralLedger(pdf, books)),
  );
  documents.push(await written(opts, { kind: 'MONTHLY_REPORT', title: '月度费用报表', name: `${month}-monthly-report.pdf` }, subtitle, (pdf) => printExpenseReport(pdf, books, [period], names)));
  const quarter = quarterOf(period);
  if (quarter) {
    const q = period / 3;
    documents.push(
      await written(opts, { kind: 'QUARTERLY_REPORT', title: `第 ${q} 季度财务报告`, name: `${fiscalYear}-Q${q}-quarterly-report.pdf` }, `${opts.company}    ${fiscalYear} 年第 ${q} 季度    单位：元`, (pdf) =>
        printExpenseReport(pdf, books, quarter, { ...names, balances: true }),
      ),
    );
  }
  if (period === 12) {
    const year = Array.from({ length: 12 }, (_, i) => i + 1);
    documents.push(
      await written(opts, { kind: 'ANNUAL_REPORT', title: `${fiscalYear} 年度财务报告`, name: `${fiscalYear}-annual-report.pdf` }, `${opts.company}    ${fiscalYear} 年度    单位：元`, (pdf) =>
        printExpenseReport(pdf, books, year, { ...names, balances: true }),
      ),
    );
  }
  return { books, documents };
}
