// The transfer register printed as the archive files it (PDF/A-2b, like the period's books: pdf.ts): every listed
// record in 档号 order with its title, retention and fixity digest, then the count, the digest of the list and the two
// signatures. The lines are read from the database as they are printed, and their digest is recomputed on the way:
// a register whose lines were altered in the database after it was prepared is not filed.
import { createHash } from 'node:crypto';
import type { Connection, Types } from 'mongoose';
import { canonicalJson } from '../../../platform/integration/canonical-json.ts';
import { type GenerateOptions, openDocument } from './generate.ts';
import { type TransferLineDoc, type TransferRegisterDoc, lineModel, listedPart } from './handover-model.ts';
import type { RetentionPeriod } from '../retention.ts';

/** The hash of a register's list, fed line by line in order (prepareHandover computes it, the printing checks it). */
export class LinesDigest {
  private readonly hash = createHash('sha256');
  count = 0;

  add(line: Parameters<typeof listedPart>[0]): void {
    this.hash.update(canonicalJson(listedPart(line)));
    this.hash.update('\n');
    this.count++;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** The register's stored lines are not the list its digest was computed over (altered in the database). */
export class RegisterLinesAltered extends Error {
  constructor() {
    super('the stored lines of this transfer register are not the ones it listed when prepared');
  }
}

const RETENTION_TEXT: Record<RetentionPeriod, string> = { Y10: '10 年', Y30: '30 年', PERMANENT: '永久', Y5_AFTER_DISPOSAL: '清理后 5 年' };
const SIDE_TEXT = { ACCOUNTING: '移交（会计机构）', ARCHIVES: '接收（档案机构）' } as const;

export interface PrintedRegister {
  name: string;
  title: string;
  size: number;
  sha256: string;
  pages: number;
}

/** Prints `register` with its signatures to the sink; RegisterLinesAltered when its stored lines are not what was listed. */
export async function printTransferRegister(connection: Connection, register: Pick<TransferRegisterDoc, '_id' | 'fiscalYear' | 'preparedBy' | 'preparedAt' | 'recordCount' | 'linesDigest'>, signatures: TransferRegisterDoc['signatures'], opts: Pick<GenerateOptions, 'company' | 'sink' | 'now'>): Promise<PrintedRegister> {
  const title = `${register.fiscalYear} 年度会计档案移交清册`;
  const { pdf, finish } = openDocument(opts, { title, name: `${register.fiscalYear}-transfer-register-${register._id.toHexString()}.pdf` }, `${opts.company}    ${register.fiscalYear} 年度    共 ${register.recordCount} 件`);
  const digest = new LinesDigest();
  let finished = false;
  try {
    await pdf.table(null, [
      { title: '序号', width: 45, align: 'right' },
      // 档号 and digests are never cut short: they identify the record (printed smaller when they would not fit).
      { title: '档号', width: 135, align: 'left', numeric: true },
      { title: '题名', width: 230 },
      { title: '保管期限', width: 60, align: 'center' },
      { title: '固定性摘要 (SHA-256)', width: 300, align: 'left', numeric: true },
    ]);
    const cursor = lineModel(connection).find({ registerId: register._id as Types.ObjectId }).sort({ seq: 1 }).lean<TransferLineDoc[]>().cursor({ batchSize: 1000 });
    for await (const line of cursor as AsyncIterable<TransferLineDoc>) {
      if (line.seq !== digest.count) break;
      digest.add(line);
      await pdf.row([String(line.seq + 1), line.archiveNo, line.title, RETENTION_TEXT[line.retention as RetentionPeriod] ?? line.retention, line.digest]);
    }
    if (digest.count !== register.recordCount || digest.digest() !== register.linesDigest) {
      throw new RegisterLinesAltered();
    }
    pdf.space();
    await pdf.table('清册摘要与签字', [
      { title: '项目', width: 170 },
      { title: '内容', width: 600, align: 'left', numeric: true },
    ]);
    await pdf.row(['档案件数', String(register.recordCount)]);
    await pdf.row(['清册摘要 (SHA-256)', register.linesDigest]);
    await pdf.row(['编制', `${register.preparedBy}  ${register.preparedAt.toISOString()}`]);
    for (const s of signatures) await pdf.row([SIDE_TEXT[s.side], `${s.by}  ${s.at.toISOString()}`]);
    const done = await finish();
    finished = true;
    return { name: done.name, title, size: done.size, sha256: done.sha256, pages: done.pages };
  } finally {
    // A refused register still ends its document, so the sink closes (the caller deletes it).
    if (!finished) await finish().catch(() => undefined);
  }
}
