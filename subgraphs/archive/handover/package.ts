// Writes a handover package (issue 17 §6; layout in ./layout.ts): the records of a fiscal year, optionally of one
// category, as a streamed ZIP (yazl; ZIP64 when the package needs it). Nothing is built in memory: each entry is
// opened only when the ZIP writer reaches it (addReadStreamLazy), originals are read from GridFS as streams, the
// records come from a cursor with a look-ahead of one record, and each entry's SHA-256 is computed as it streams
// through; the manifests, which only then are known, are the last entries. What stays in memory is one manifest
// line per entry (the manifest must be complete before it is written).
//
// Every record put into a package is an entry of the access log (READ_CONTENT, one per record, naming the export),
// committed before the record's first byte is queued. Destroyed records are left out: nothing of them is kept.
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { ZipFile } from 'yazl';
import { formatMoney } from '../../../platform/money.ts';
import type { Principal } from '../../../platform/identity.ts';
import type { ArchiveServices } from '../context.ts';
import { contentOf } from '../fixity.ts';
import { recordsTransaction } from '../history.ts';
import { AccessLog } from '../lifecycle/access-log.ts';
import { nowOf } from '../lifecycle/services.ts';
import type { ArchiveRecordDoc } from '../models.ts';
import { ArchiveFiles } from '../originals/store.ts';
import type { CategoryCode } from '../retention.ts';
import {
  BAGIT_TXT, BAG_INFO, CATALOGUE, DESCRIPTION, MANIFEST, TAG_MANIFEST, type PackagedFile, type VoucherFigures,
  contentName, fixityInput, manifestLine, metadataXml, recordDir, safeName, xmlText,
} from './layout.ts';

export interface PackageRequest {
  fiscalYear: number;
  category: CategoryCode | null;
  principal: Principal;
}

export interface PackageSummary { records: number; files: number; bytes: number }

/** The package's ZIP as a stream, and its summary once the last entry is written (rejects when it failed). */
export function writePackage(svc: ArchiveServices, req: PackageRequest): { stream: Readable; done: Promise<PackageSummary> } {
  const zip = new ZipFile();
  const out = new PassThrough();
  const payload: string[] = [];
  const tags: string[] = [];
  let bytes = 0;
  let fileCount = 0;
  // An entry, opened when the writer reaches it and hashed as it passes; resolves when the writer has reached it.
  const add = (path: string, lines: string[], open: () => Readable | Promise<Readable>, opts: { compress: boolean; size?: number }) =>
    new Promise<void>((reached) => {
      zip.addReadStreamLazy(path, opts, (cb) => {
        reached();
        Promise.resolve().then(open).then(
          (source) => {
            const hash = createHash('sha256');
            let size = 0;
            const meter = new Transform({
              transform(chunk: Buffer, _enc, done) {
                hash.update(chunk);
                size += chunk.length;
                done(null, chunk);
              },
              flush(done) {
                lines.push(manifestLine(hash.digest('hex'), path));
                if (lines === payload) bytes += size;
                done();
              },
            });
            pipeline(source, meter, () => {});
            cb(null, meter);
          },
          (err: unknown) => cb(err, undefined as never),
        );
      });
    });
  const text = (path: string, lines: string[], body: () => string) => add(path, lines, () => Readable.from([Buffer.from(body(), 'utf8')]), { compress: true });

  // A reader that goes away (the client hung up) ends the export: the cursor is closed, nothing more is queued.
  const abandoned = new Promise<never>((_, reject) => out.once('close', () => reject(new Error('the package stream was closed before its end'))));
  abandoned.catch(() => {});
  const done = (async (): Promise<PackageSummary> => {
    const filter: RecordFilter = { fiscalYear: req.fiscalYear, status: { $ne: 'DESTROYED' as const }, ...(req.category ? { category: req.category } : {}) };
    const records = await svc.models.ArchiveRecord.countDocuments(filter);
    const now = nowOf(svc);
    const scope = `fiscal year ${req.fiscalYear}${req.category ? `, category ${req.category}` : ''}`;
    void text(DESCRIPTION, payload, () => description(svc.settings.fonds, scope, records, now, req.principal.sub));
    const store = new ArchiveFiles(svc.connection);
    const log = new AccessLog(svc.connection);
    for await (const r of svc.models.ArchiveRecord.find(filter).sort({ archiveNo: 1 }).lean<ArchiveRecordDoc>().cursor()) {
      await recordsTransaction(svc.connection, (session) =>
        log.append(session, { actorId: req.principal.sub, actorRoles: req.principal.roles, action: 'READ_CONTENT', recordId: r._id.toHexString(), archiveNo: r.archiveNo, purpose: `handover package export (${scope})`, at: now }).then(() => undefined),
      );
      const dir = recordDir(r);
      const taken = new Set<string>();
      const files: PackagedFile[] = (r.files ?? []).map((f) => {
        const name = safeName(f.name, taken);
        return { path: `${dir}/files/${name}`, name, mediaType: f.mediaType, size: f.size, sha256: f.sha256, fileId: f.fileId };
      });
      const content = r.content === null ? null : contentOf(r.content, r.mediaType);
      const voucherDoc = r.voucherId ? await svc.models.Voucher.findById(r.voucherId, { voucherNo: 1, period: 1, date: 1, debitTotalFen: 1, creditTotalFen: 1 }).lean() : null;
      const voucher: VoucherFigures | null = voucherDoc
        ? { voucherNo: voucherDoc.voucherNo, period: voucherDoc.period, date: voucherDoc.date, debitTotal: formatMoney(voucherDoc.debitTotalFen), creditTotal: formatMoney(voucherDoc.creditTotalFen) }
        : null;
      const contentPath = `${dir}/${contentName(r.mediaType)}`;
      const reached = text(`${dir}/metadata.xml`, payload, () => metadataXml(r, voucher, content ? { path: contentPath, size: content.length } : null, files));
      void text(`${dir}/fixity.json`, payload, () => `${JSON.stringify(fixityInput(r), null, 2)}\n`);
      if (content) void add(contentPath, payload, () => Readable.from([content]), { compress: true });
      for (const f of files) {
        fileCount++;
        void add(f.path, payload, async () => {
          const copy = await store.byId(f.fileId);
          if (!copy) throw new Error(`the original ${f.fileId} of ${r.archiveNo} is missing from archive_files`);
          return store.stream(copy);
        }, { compress: false, size: f.size });
      }
      // Look-ahead of one record: the next is read once the writer has reached this one.
      await Promise.race([reached, abandoned]);
    }
    void add(CATALOGUE, payload, () => Readable.from(catalogue(svc, filter)), { compress: true });
    void text(BAGIT_TXT_PATH, tags, () => BAGIT_TXT);
    void text(BAG_INFO, tags, () => bagInfo(svc.settings.fonds, scope, records, fileCount, bytes, payload.length, now));
    void text(MANIFEST, tags, () => payload.join(''));
    const last = text(TAG_MANIFEST, [], () => tags.join(''));
    const finished = new Promise<void>((resolve, reject) => {
      out.once('finish', resolve);
      out.once('error', reject);
    });
    zip.end();
    await Promise.race([last, abandoned]);
    await finished;
    return { records, files: fileCount, bytes };
  })();
  zip.outputStream.pipe(out);
  zip.on('error', (err: Error) => out.destroy(err));
  done.catch((err: Error) => out.destroy(err));
  return { stream: out, done };
}

const BAGIT_TXT_PATH = 'bagit.txt';

type RecordFilter = { fiscalYear: number; status: { $ne: 'DESTROYED' }; category?: CategoryCode };

function description(fonds: string, scope: string, records: number, at: Date, by: string): string {
  return [
    `Electronic accounting archive handover package (电子会计档案移交包)`,
    `Fonds (全宗号): ${fonds}`,
    `Scope: ${scope}`,
    `Records: ${records}`,
    `Created: ${at.toISOString()} by ${by}`,
    `Producing system: oa-archive-federation`,
    `Structure: BagIt 1.0 (RFC 8493); payload after 电子档案移交与接收办法 附件2 (说明文件, 文件目录.xml, 电子档案/年度/类别/档号)`,
    `Each record: metadata.xml, fixity.json (the fields its SHA-256 fixity digest covers), its content as filed, files/ (originals)`,
    `Check: npm run verify-package -- <zip>`,
    '',
  ].join('\r\n');
}

function bagInfo(fonds: string, scope: string, records: number, files: number, bytes: number, entries: number, at: Date): string {
  return [
    `Source-Organization: ${fonds}`,
    `Bagging-Date: ${at.toISOString().slice(0, 10)}`,
    `External-Description: Electronic accounting archive handover package, ${scope}`,
    `Payload-Oxum: ${bytes}.${entries}`,
    `Record-Count: ${records}`,
    `Original-File-Count: ${files}`,
    '',
  ].join('\n');
}

/** 文件目录.xml, from a second cursor over the same records (never collected). */
async function* catalogue(svc: ArchiveServices, filter: RecordFilter): AsyncGenerator<Buffer> {
  yield Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<文件目录>\n');
  let n = 0;
  const cursor = svc.models.ArchiveRecord.find(filter, { archiveNo: 1, title: 1, filedBy: 1, filedAt: 1, fiscalYear: 1, category: 1, retention: 1 }).sort({ archiveNo: 1 }).lean<ArchiveRecordDoc>().cursor();
  for await (const r of cursor) {
    n++;
    yield Buffer.from(
      `  <文件>\n    <顺序号>${n}</顺序号>\n    <档号>${xmlText(r.archiveNo)}</档号>\n    <责任者>${xmlText(r.filedBy)}</责任者>\n    <题名>${xmlText(r.title)}</题名>\n` +
        `    <日期>${r.filedAt.toISOString().slice(0, 10)}</日期>\n    <密级></密级>\n    <电子档案名称>${xmlText(recordDir(r))}</电子档案名称>\n    <备注>保管期限 ${xmlText(r.retention)}</备注>\n  </文件>\n`,
    );
  }
  yield Buffer.from('</文件目录>\n');
}
