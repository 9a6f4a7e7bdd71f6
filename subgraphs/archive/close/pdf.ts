// Printed books and reports as PDF/A-2b (ISO 19005-2), written by pdfkit with Noto Sans SC embedded (subset to the
// characters used, with a ToUnicode map so the text, Chinese included, can be extracted and searched). Why PDF/A:
// DA/T 94-2022 names PDF/A and OFD as long-term formats for electronic accounting archives, the archive's four-properties
// check already reads PDF, and every reader opens it; pdfkit is the maintained PDF writer for Node with PDF/A output
// (an OFD writer for Node does not exist in a maintained form). The font comes from npm (@expo-google-fonts/noto-sans-sc,
// SIL OFL 1.1), so a fresh machine needs no system fonts.
// Tables are streamed: a page is written out when it is full and the writer waits for its destination to drain, so a
// detail ledger of 100,000 lines holds one page in memory, not the document.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import PDFDocument from 'pdfkit';

const FONT_FILE = '@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf';
let font: Buffer | null = null;
/** Read once per process, on first use (10 MB). */
const fontBytes = (): Buffer => (font ??= readFileSync(createRequire(import.meta.url).resolve(FONT_FILE)));

export interface Column {
  title: string;
  /** Points; the columns of a table fill the page's width (A4 landscape less margins: 770 pt). */
  width: number;
  align?: 'left' | 'right' | 'center';
  /** An amount: never cut short (a digit lost is a wrong book); printed smaller when it would not fit. */
  numeric?: boolean;
}

export interface DocumentMeta {
  /** Title of the document (科目余额表 …), also the PDF's Title. */
  title: string;
  /** The line under it: company, period, unit. */
  subtitle: string;
  author: string;
  createdAt: Date;
}

const MARGIN = 36;
const FONT_SIZE = 8.5;
const ROW = 14;

/** A PDF/A document of tables, written to `out` as it grows. */
export class TablePdf {
  private readonly doc: PDFKit.PDFDocument;
  private readonly done: Promise<void>;
  private columns: Column[] = [];
  private y = 0;
  private pages = 1;
  /** Advance width of each character at size 1: cells are placed by these sums, not by pdfkit's line wrapper (half the cost). */
  private readonly advance = new Map<string, number>();

  constructor(
    private readonly out: Writable,
    private readonly meta: DocumentMeta,
  ) {
    this.doc = new PDFDocument({
      size: 'A4',
      layout: 'landscape',
      margin: MARGIN,
      pdfVersion: '1.7',
      subset: 'PDF/A-2b',
      lang: 'zh-CN',
      displayTitle: true,
      info: { Title: meta.title, Author: meta.author, Subject: meta.subtitle, CreationDate: meta.createdAt, ModDate: meta.createdAt },
    });
    this.done = new Promise<void>((resolve, reject) => {
      out.once('finish', resolve).once('error', reject);
      this.doc.once('error', reject);
    });
    this.doc.pipe(out);
    this.doc.registerFont('cjk', fontBytes());
    this.doc.font('cjk');
    this.heading();
  }

  private get bottom(): number {
    return this.doc.page.height - MARGIN - ROW;
  }

  private heading(): void {
    const d = this.doc;
    d.fontSize(14).text(this.meta.title, MARGIN, MARGIN, { width: d.page.width - 2 * MARGIN, align: 'center', lineBreak: false });
    d.fontSize(FONT_SIZE).text(`${this.meta.subtitle}    第 ${this.pages} 页`, MARGIN, MARGIN + 20, { width: d.page.width - 2 * MARGIN, align: 'center', lineBreak: false });
    this.y = MARGIN + 40;
    if (this.columns.length) this.header();
  }

  private header(): void {
    this.cells(this.columns.map((c) => c.title), true);
  }

  /** Width of `text` at `size` points. */
  private widthOf(text: string, size: number): number {
    let w = 0;
    for (const ch of text) {
      let a = this.advance.get(ch);
      if (a === undefined) {
        this.doc.fontSize(1);
        this.advance.set(ch, (a = this.doc.widthOfString(ch)));
        this.doc.fontSize(FONT_SIZE);
      }
      w += a;
    }
    return w * size;
  }

  /** `text` cut to `width` points with an ellipsis. */
  private fit(text: string, width: number): string {
    if (this.widthOf(text, FONT_SIZE) <= width) return text;
    const chars = [...text];
    while (chars.length && this.widthOf(`${chars.join('')}…`, FONT_SIZE) > width) chars.pop();
    return `${chars.join('')}…`;
  }

  private cells(values: readonly string[], rule = false): void {
    const d = this.doc;
    let x = MARGIN;
    values.forEach((v, i) => {
      const c = this.columns[i];
      const room = c.width - 4;
      // An amount is never cut short (a digit lost is a wrong book): it is printed smaller when it would not fit.
      const size = c.numeric ? Math.min(FONT_SIZE, (FONT_SIZE * room) / Math.max(1, this.widthOf(v, FONT_SIZE))) : FONT_SIZE;
      const text = c.numeric ? v : this.fit(v, room);
      const w = this.widthOf(text, size);
      const align = c.align ?? (c.numeric ? 'right' : 'left');
      const left = align === 'right' ? x + 2 + room - w : align === 'center' ? x + 2 + (room - w) / 2 : x + 2;
      if (size !== FONT_SIZE) d.fontSize(size);
      d.text(text, left, this.y + 3 + (FONT_SIZE - size), { lineBreak: false });
      if (size !== FONT_SIZE) d.fontSize(FONT_SIZE);
      x += c.width;
    });
    if (rule) d.moveTo(MARGIN, this.y + ROW).lineTo(x, this.y + ROW).lineWidth(0.5).stroke();
    this.y += ROW;
  }

  private async newPage(): Promise<void> {
    // pdfkit keeps the layout of every distinct word for the document's life: voucher numbers and amounts would make
    // it grow with the ledger. Kept for one page (its repeated dates, names and sides: 30% faster than no cache).
    const font = (this.doc as unknown as { _font?: { layoutCache?: Record<string, unknown> } })._font;
    if (font?.layoutCache) font.layoutCache = Object.create(null) as Record<string, unknown>;
    this.doc.addPage();
    this.pages++;
    this.heading();
    // The finished page has gone to the stream: wait for the destination before filling another.
    if (this.out.writableNeedDrain) await new Promise<void>((resolve) => this.out.once('drain', resolve));
  }

  /** Starts a table (on a new page unless this one has room for its header and a few rows), with a caption line. */
  async table(caption: string | null, columns: Column[]): Promise<void> {
    this.columns = [];
    if (this.y + ROW * 5 > this.bottom) await this.newPage();
    if (caption) {
      this.doc.fontSize(10).text(caption, MARGIN, this.y + 4, { lineBreak: false }).fontSize(FONT_SIZE);
      this.y += ROW + 4;
    }
    this.columns = columns;
    this.header();
  }

  /** One row; a full page is written out first. */
  async row(values: readonly string[], rule = false): Promise<void> {
    if (this.y > this.bottom) await this.newPage();
    this.cells(values, rule);
  }

  /** A gap between tables. */
  space(): void {
    this.y += ROW / 2;
  }

  /** Ends the document and waits until `out` has it all. */
  async end(): Promise<number> {
    this.doc.end();
    await this.done;
    return this.pages;
  }
}
