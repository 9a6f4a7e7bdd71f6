// The layout of a handover package (issue 17 §6; README "Handover packages"), shared by the writer (./package.ts)
// and the offline check (./verify.ts). Pure: no database.
//
// Envelope: a BagIt bag (RFC 8493): bagit.txt, bag-info.txt, manifest-sha256.txt (`<sha256>  <path>` of every
// payload file), tagmanifest-sha256.txt (the same for the tag files), the payload under data/.
// Payload: the storage structure of the 电子档案移交与接收办法 (档发〔2012〕7号) 附件2 "电子档案的存储结构", as far as
// its published text goes: a description file (说明文件.txt), a catalogue (文件目录.xml, one <文件> per record with
// 顺序号, 档号, 责任者, 题名, 日期, 密级, 电子档案名称, 备注) and the records in 电子档案/ by 年度—类别—文件
// (year / category / 档号). 会计档案管理办法 §24 asks that electronic accounting records be handed over with their
// metadata: each record's folder carries metadata.xml (its description, retention, 档号, fixity and the manifest of
// its originals), fixity.json (exactly what its fixity digest covers) and its content as filed.
// The text of DA/T 94-2022 and DA/T 48-2009 (EEP) on a package's structure was not available to us; their element
// names are not used.
import type { ArchiveRecordDoc } from '../models.ts';
import type { FixedFields } from '../fixity.ts';

export const BAGIT_TXT = 'BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n';
export const MANIFEST = 'manifest-sha256.txt';
export const TAG_MANIFEST = 'tagmanifest-sha256.txt';
export const BAG_INFO = 'bag-info.txt';
export const DESCRIPTION = 'data/说明文件.txt';
export const CATALOGUE = 'data/文件目录.xml';
export const RECORDS_DIR = 'data/电子档案';

/** The folder of one record: data/电子档案/<year>/<category>/<档号>. */
export const recordDir = (r: Pick<ArchiveRecordDoc, 'fiscalYear' | 'category' | 'archiveNo'>): string => `${RECORDS_DIR}/${r.fiscalYear}/${r.category}/${r.archiveNo}`;

/** The file name of a record's content as filed. */
export function contentName(mediaType: string): string {
  if (/json/.test(mediaType)) return 'voucher.json';
  if (/xml/.test(mediaType)) return 'content.xml';
  if (/pdf/.test(mediaType)) return 'content.pdf';
  if (/ofd/.test(mediaType)) return 'content.ofd';
  return 'content.bin';
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/**
 * A file name safe on every common file system: no path separators or characters Windows refuses, no control
 * characters, no trailing dots or spaces, no reserved device names, at most 120 characters; unique within `taken`
 * (a later duplicate becomes `name (2).ext`), which it joins.
 */
export function safeName(name: string, taken: Set<string>): string {
  let base = name.normalize('NFC').replace(/[\u0000-\u001f\u007f<>:"/\\|?*]/g, '_').replace(/[. ]+$/, '').trim();
  if (!base || base === '.' || base === '..') base = 'file';
  if (WINDOWS_RESERVED.test(base)) base = `_${base}`;
  if ([...base].length > 120) base = [...base].slice(0, 120).join('');
  const dot = base.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ''];
  let candidate = base;
  for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${stem} (${n})${ext}`;
  taken.add(candidate.toLowerCase());
  return candidate;
}

/** The fields a record's fixity digest covers (../fixity.ts fixityDigest), as fixity.json holds them. */
export type FixityInput = Omit<FixedFields, 'filedAt'> & { filedAt: string; previousDigest: string | null };

export function fixityInput(r: ArchiveRecordDoc): FixityInput {
  return {
    chainSeq: r.chainSeq, archiveNo: r.archiveNo, kind: r.kind, category: r.category, title: r.title, fiscalYear: r.fiscalYear,
    retention: r.retention, voucherId: r.voucherId, sourceClaimNo: r.sourceClaimNo, invoiceNumbers: [...r.invoiceNumbers],
    mediaType: r.mediaType, contentDigest: r.contentDigest, correctsId: r.correctsId, filedBy: r.filedBy,
    filedAt: r.filedAt.toISOString(), environment: r.environment, previousArchiveNo: r.previousArchiveNo,
    ...(r.files?.length ? { files: r.files.map((f) => ({ fileId: f.fileId, name: f.name, mediaType: f.mediaType, size: f.size, sha256: f.sha256, sourceAttachmentId: f.sourceAttachmentId })) } : {}),
    previousDigest: r.fixity.previousDigest,
  };
}

export const xmlText = (v: unknown): string =>
  String(v ?? '').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A voucher's figures for the description (voucher number, period, amounts in yuan as decimal strings). */
export interface VoucherFigures { voucherNo: string; period: number; date: string; debitTotal: string; creditTotal: string }

/** One original in a record's folder: its name there (files/<name>) and its manifest entry. */
export interface PackagedFile { path: string; name: string; mediaType: string; size: number; sha256: string; fileId: string }

/** metadata.xml of one record. */
export function metadataXml(r: ArchiveRecordDoc, voucher: VoucherFigures | null, content: { path: string; size: number } | null, files: readonly PackagedFile[]): string {
  const el = (name: string, v: unknown) => (v === null || v === undefined ? '' : `  <${name}>${xmlText(v)}</${name}>\n`);
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<record>\n' +
    el('archiveNo', r.archiveNo) + el('title', r.title) + el('kind', r.kind) + el('category', r.category) +
    el('fiscalYear', r.fiscalYear) + el('retention', r.retention) + el('retentionStartsOn', r.retentionStartsOn) +
    el('expiresOn', r.expiresOn) + el('status', r.status) + el('filedBy', r.filedBy) + el('filedAt', r.filedAt.toISOString()) +
    el('environment', r.environment) + el('sourceClaimNo', r.sourceClaimNo) +
    (r.invoiceNumbers.length ? `  <invoiceNumbers>\n${r.invoiceNumbers.map((n) => `    <invoiceNumber>${xmlText(n)}</invoiceNumber>\n`).join('')}  </invoiceNumbers>\n` : '') +
    (voucher ? `  <voucher no="${xmlText(voucher.voucherNo)}" period="${voucher.period}" date="${xmlText(voucher.date)}" debitTotal="${xmlText(voucher.debitTotal)}" creditTotal="${xmlText(voucher.creditTotal)}"/>\n` : '') +
    (content ? `  <content path="${xmlText(content.path)}" mediaType="${xmlText(r.mediaType)}" size="${content.size}" sha256="${r.contentDigest}"/>\n` : '') +
    `  <fixity algorithm="${xmlText(r.fixity.algorithm)}" digest="${r.fixity.digest}" previousDigest="${r.fixity.previousDigest ?? ''}" chainSeq="${r.chainSeq}" covers="fixity.json"/>\n` +
    `  <files>\n${files.map((f) => `    <file path="${xmlText(f.path)}" name="${xmlText(f.name)}" mediaType="${xmlText(f.mediaType)}" size="${f.size}" sha256="${f.sha256}" fileId="${f.fileId}"/>\n`).join('')}  </files>\n` +
    '</record>\n'
  );
}

/** The BagIt manifest line of one file (RFC 8493 §2.1.3: `<checksum>  <filepath>`, LF). */
export const manifestLine = (sha256: string, path: string): string => `${sha256}  ${path.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}\n`;

/** The path of a manifest line, decoded. */
export const manifestPath = (encoded: string): string => encoded.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%');
