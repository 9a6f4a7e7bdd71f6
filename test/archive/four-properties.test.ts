// The four-properties check (四性检测): a valid voucher passes every check; each check fails on its own defect,
// naming the field or value.
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ALLOWED_MEDIA_TYPES, BINARY_MEDIA_TYPES, CHECKS, type CheckFacts, type CheckResult, type FourPropertiesReport, type RecordUnderCheck,
  checkFourProperties, contentBytes, sha256Hex,
} from '../../subgraphs/archive/four-properties/index.ts';
import { contentOf } from '../../subgraphs/archive/fixity.ts';

const TODAY = '2027-03-15';
const INVOICES = ['24312000000012345678', '044002300111-00012345'];
const DIGEST = sha256Hex('fixity of record 12');
const PREVIOUS_DIGEST = sha256Hex('fixity of record 11');
// Assembled from parts so that this file does not itself trip a virus scanner.
const EICAR = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!', '$H+H*'].join('');

type Entry = { summary: string; accountCode: string; accountName: string; debit: string; credit: string };
const ENTRIES: Entry[] = [
  { summary: '上海出差差旅费', accountCode: '6602', accountName: '管理费用-差旅费', debit: '1200.00', credit: '0.00' },
  { summary: '进项税额', accountCode: '22210101', accountName: '应交税费-应交增值税(进项税额)', debit: '130.00', credit: '0.00' },
  { summary: '支付报销款', accountCode: '1002', accountName: '银行存款', debit: '0.00', credit: '1330.00' },
];

/** Voucher content shaped like the filing service's (canonical JSON, Money strings). */
function voucherJson(over: { entries?: unknown[]; invoiceNumbers?: string[]; debitTotal?: string } = {}): string {
  return JSON.stringify({
    voucherNo: 'JZ-2026-12-0042',
    date: '2026-12-28',
    fiscalYear: 2026,
    period: 12,
    entries: over.entries ?? ENTRIES,
    debitTotal: over.debitTotal ?? '1330.00',
    creditTotal: '1330.00',
    source: {
      claimId: 'c-0042', claimNo: 'BX-2026-0042', title: '上海出差差旅费', category: 'TRAVEL', applicantId: 'e-7', applicantName: '张三',
      approvedAt: '2026-12-20T08:00:00.000Z', invoiceNumbers: over.invoiceNumbers ?? INVOICES, total: '1330.00',
    },
  });
}

function voucherRecord(over: Partial<RecordUnderCheck> = {}): RecordUnderCheck {
  const content = voucherJson();
  return {
    archiveNo: 'ACME-2026-D30-PZ-00042',
    kind: 'BOOKKEEPING_VOUCHER',
    category: 'PZ',
    title: '记账凭证 JZ-2026-12-0042 上海出差差旅费',
    fiscalYear: 2026,
    retention: 'Y30',
    retentionStartsOn: '2027-01-01',
    expiresOn: '2056-12-31',
    disposedOn: null,
    mediaType: 'application/json',
    content,
    contentDigest: sha256Hex(content),
    status: 'FILED',
    invoiceNumbers: INVOICES,
    sourceClaimNo: 'BX-2026-0042',
    voucherId: '6650c0ffee0000000000abcd',
    filedBy: 'u-archivist-01',
    environment: 'oa-archive-federation 0.1.0 node/20.20.2',
    chainSeq: 12,
    fixity: { algorithm: 'SHA-256', digest: DIGEST, previousDigest: PREVIOUS_DIGEST },
    ...over,
  };
}

/** A record of other content: the digest follows the content (binary types travel as base64). */
function contentRecord(content: Buffer | string, mediaType: string, over: Partial<RecordUnderCheck> = {}): RecordUnderCheck {
  const text = typeof content === 'string' ? content : content.toString(BINARY_MEDIA_TYPES.includes(mediaType) ? 'base64' : 'latin1');
  const record = voucherRecord({
    archiveNo: 'ACME-2026-D10-QT-00042',
    kind: 'BANK_STATEMENT',
    category: 'QT',
    title: '银行对账单 2026-12 工商银行基本户',
    retention: 'Y10',
    expiresOn: '2036-12-31',
    invoiceNumbers: [],
    sourceClaimNo: null,
    voucherId: null,
    mediaType,
    content: text,
    ...over,
  });
  return { ...record, contentDigest: sha256Hex(contentBytes(record)) };
}

function facts(over: Partial<CheckFacts> = {}): CheckFacts {
  return {
    duplicate: false,
    previousItemInSeries: 41,
    expectedDigest: DIGEST,
    previousDigest: PREVIOUS_DIGEST,
    recordedLocation: 'mongodb:archive_records',
    actualLocation: 'mongodb:archive_records',
    filedByAuthorisedIdentity: true,
    filedInTransaction: true,
    storageVerified: true,
    today: TODAY,
    ...over,
  };
}

const run = (record: RecordUnderCheck, f: Partial<CheckFacts> = {}): FourPropertiesReport => checkFourProperties(record, facts(f));
const result = (report: FourPropertiesReport, check: string): CheckResult => {
  const found = report.results.find((r) => r.check === check);
  if (!found) throw new Error(`no result for ${check}`);
  return found;
};
const failed = (report: FourPropertiesReport): string[] => report.results.filter((r) => !r.passed).map((r) => r.check);

/** Asserts that exactly `check` fails, under `property`, and returns its detail. */
function onlyFailure(report: FourPropertiesReport, check: string, property: CheckResult['property']): string {
  expect(failed(report)).toEqual([check]);
  expect(report.passed).toBe(false);
  const r = result(report, check);
  expect(r.property).toBe(property);
  return r.detail;
}

// ----- fixtures of other formats ----------------------------------------------------------------------------------

function pdf(objects = '', trailerExtra = ''): Buffer {
  return Buffer.from(
    '%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n' +
      `${objects}trailer\n<< /Root 1 0 R /Size 9${trailerExtra} >>\n%%EOF\n`,
    'latin1',
  );
}

/** A ZIP of stored entries (method 0), with local headers, central directory and end record. */
function zip(files: Record<string, string>, flags = 0): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const nameBytes = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const OFD_XML = '<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0"><ofd:DocBody/></ofd:OFD>';
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(24)]);

function peExecutable(): Buffer {
  const b = Buffer.alloc(0x100);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  return b;
}

// ------------------------------------------------------------------------------------------------------------------

describe('a valid voucher record', () => {
  it('passes every check, in the stable order of CHECKS, each with a reason', () => {
    const report = run(voucherRecord());
    expect(failed(report)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.results.map(({ property, check }) => ({ property, check }))).toEqual(CHECKS);
    expect(report.results).toHaveLength(17);
    for (const r of report.results) expect(r.detail.length).toBeGreaterThan(10);
    expect(result(report, 'content-digest').detail).toBe(`SHA-256 of the ${Buffer.byteLength(voucherJson())} content bytes matches contentDigest ${sha256Hex(voucherJson())}`);
    expect(result(report, 'sequence').detail).toBe('item 42 follows item 41 without a gap');
    expect(result(report, 'package-complete').detail).toBe('3 entries balance at 133000 fen; all 2 invoice numbers are in the content');
  });

  it('also passes with amounts in integer fen (debitFen/creditFen) and as the first record of the chain and series', () => {
    const entries = ENTRIES.map(({ debit, credit, ...e }) => ({ ...e, debitFen: Math.round(Number(debit) * 100), creditFen: Math.round(Number(credit) * 100) }));
    const content = voucherJson({ entries });
    const record = voucherRecord({ archiveNo: 'ACME-2026-D30-PZ-00001', content, contentDigest: sha256Hex(content), chainSeq: 1, fixity: { algorithm: 'SHA-256', digest: DIGEST, previousDigest: null } });
    const report = run(record, { previousItemInSeries: null, previousDigest: null });
    expect(failed(report)).toEqual([]);
    expect(result(report, 'sequence').detail).toBe('item 1 opens its series');
  });

  it('passes as a PDF, an OFD, a PNG, an XML and a CSV record', () => {
    for (const record of [
      contentRecord(pdf(), 'application/pdf'),
      contentRecord(zip({ 'OFD.xml': OFD_XML, 'Doc_0/Document.xml': '<Document/>' }), 'application/ofd'),
      contentRecord(PNG, 'image/png'),
      contentRecord('<?xml version="1.0" encoding="UTF-8"?>\n<!-- 对账单 --><statement bank="工商银行"><line amount="1330.00">报销</line><empty/></statement>\n', 'application/xml'),
      contentRecord('日期,摘要,金额\n2026-12-28,报销,1330.00\n', 'text/csv'),
    ]) {
      expect(failed(run(record)), record.mediaType).toEqual([]);
    }
  });
});

describe('AUTHENTICITY', () => {
  it('content-digest: tampered content no longer matches the digest as filed', () => {
    const record = voucherRecord();
    const tampered = { ...record, content: (record.content as string).replace('上海出差差旅费', '北京出差差旅费') };
    const detail = onlyFailure(run(tampered), 'content-digest', 'AUTHENTICITY');
    expect(detail).toBe(`SHA-256 of the content bytes is ${sha256Hex(tampered.content)} but contentDigest is "${record.contentDigest}": the content is not the content as filed`);
  });

  it('content-digest: a destroyed record passes on its kept digest; content-present tells destroyed from missing', () => {
    const destroyed = run(voucherRecord({ status: 'DESTROYED', content: null }));
    expect(destroyed.passed).toBe(true);
    expect(result(destroyed, 'content-digest')).toEqual({ property: 'AUTHENTICITY', check: 'content-digest', passed: true, detail: 'content destroyed; digest kept' });
    expect(result(destroyed, 'content-present').detail).toBe('content destroyed (status DESTROYED); its digest is kept');

    const missing = run(voucherRecord({ content: null }));
    expect(failed(missing)).toEqual(['content-digest', 'content-present', 'package-complete', 'format-allowed']);
    expect(result(missing, 'content-present')).toMatchObject({ property: 'INTEGRITY', passed: false, detail: 'content is missing (status FILED)' });
    expect(result(missing, 'content-digest').detail).toMatch(/^content is missing \(status FILED\), so contentDigest "[0-9a-f]{64}" cannot be verified$/);

    const notGone = run(voucherRecord({ status: 'DESTROYED' }));
    expect(onlyFailure(notGone, 'content-present', 'INTEGRITY')).toBe(`status is DESTROYED but the content is still held (${Buffer.byteLength(voucherJson())} bytes)`);
  });

  it('fixity-digest: a digest other than the recomputed one, a broken link and another algorithm', () => {
    const wrong = sha256Hex('something else');
    expect(onlyFailure(run(voucherRecord(), { expectedDigest: wrong }), 'fixity-digest', 'AUTHENTICITY')).toBe(
      `fixity.digest "${DIGEST}" differs from the recomputed digest "${wrong}": the record's fixed metadata or content digest changed after filing`,
    );
    expect(onlyFailure(run(voucherRecord(), { previousDigest: wrong }), 'fixity-digest', 'AUTHENTICITY')).toBe(
      `fixity.previousDigest "${PREVIOUS_DIGEST}" differs from the previous record's digest "${wrong}": the chain is broken before this record`,
    );
    const md5 = voucherRecord({ fixity: { algorithm: 'MD5', digest: DIGEST, previousDigest: PREVIOUS_DIGEST } });
    expect(onlyFailure(run(md5), 'fixity-digest', 'AUTHENTICITY')).toBe('fixity.algorithm "MD5" is not SHA-256');
    expect(onlyFailure(run(voucherRecord(), { previousDigest: null }), 'fixity-digest', 'AUTHENTICITY')).toBe(
      `fixity.previousDigest "${PREVIOUS_DIGEST}" differs from the previous record's digest null: the chain is broken before this record; chainSeq 12 has no previous record in the chain`,
    );
  });

  it('metadata-types: dates that are not real, in the wrong order or not where the period starts', () => {
    expect(onlyFailure(run(voucherRecord({ retentionStartsOn: '2027-02-30' })), 'metadata-types', 'AUTHENTICITY')).toBe('retentionStartsOn "2027-02-30" is not a real date YYYY-MM-DD');
    expect(onlyFailure(run(voucherRecord({ expiresOn: '2056/12/31' })), 'metadata-types', 'AUTHENTICITY')).toBe('expiresOn "2056/12/31" is not a real date YYYY-MM-DD');
    expect(onlyFailure(run(voucherRecord({ retentionStartsOn: '2026-01-01' })), 'metadata-types', 'AUTHENTICITY')).toBe(
      'retentionStartsOn 2026-01-01 should be 2027-01-01, the day after fiscal year 2026',
    );
    expect(onlyFailure(run(voucherRecord({ expiresOn: '2036-12-31' })), 'metadata-types', 'AUTHENTICITY')).toBe(
      'expiresOn 2036-12-31 is earlier than the statutory end 2056-12-31 (an appraisal may extend retention, never shorten it)',
    );
    // An appraisal may extend it.
    expect(failed(run(voucherRecord({ expiresOn: '2061-12-31' })))).toEqual([]);
    const startAfterEnd = onlyFailure(run(voucherRecord({ retentionStartsOn: '2057-01-01' })), 'metadata-types', 'AUTHENTICITY');
    expect(startAfterEnd).toBe('retentionStartsOn 2057-01-01 should be 2027-01-01, the day after fiscal year 2026; expiresOn 2056-12-31 is not after retentionStartsOn 2057-01-01');
  });

  it('metadata-types: fiscal year range, title length, invoice number form, kind/retention agreement', () => {
    const fractional = run(voucherRecord({ fiscalYear: 2026.5 }));
    expect(failed(fractional)).toEqual(['metadata-types', 'archive-number', 'package-complete']);
    expect(result(fractional, 'metadata-types').detail).toBe('fiscalYear 2026.5 is not an integer year from 1949 to 2028');
    expect(result(fractional, 'archive-number').detail).toBe('archiveNo year 2026 disagrees with fiscalYear 2026.5');
    expect(result(fractional, 'package-complete').detail).toBe("the package's fiscalYear 2026 disagrees with fiscalYear 2026.5");
    const farFuture = run(voucherRecord({ fiscalYear: 2029 }));
    expect(result(farFuture, 'metadata-types').detail).toBe('fiscalYear 2029 is not an integer year from 1949 to 2028');
    const untitled = run(voucherRecord({ title: '' }));
    expect(failed(untitled)).toEqual(['metadata-types', 'required-metadata']);
    expect(result(untitled, 'metadata-types').detail).toBe('title is 0 characters long, not 1 to 200');
    expect(result(untitled, 'required-metadata').detail).toBe('required metadata missing: title');
    expect(failed(run(voucherRecord({ title: '凭'.repeat(200) })))).toEqual([]);
    expect(onlyFailure(run(voucherRecord({ title: '凭'.repeat(201) })), 'metadata-types', 'AUTHENTICITY')).toBe('title is 201 characters long, not 1 to 200');
    const lower = voucherRecord({ invoiceNumbers: ['24312000000012345678', 'inv 1'] });
    expect(result(run(lower), 'metadata-types').detail).toBe('invoiceNumbers[1] "inv 1" is not 1 to 64 of A-Z, 0-9 and -');
    const twice = voucherRecord({ invoiceNumbers: [INVOICES[0], INVOICES[0]] });
    expect(onlyFailure(run(twice), 'metadata-types', 'AUTHENTICITY')).toBe('invoice number 24312000000012345678 is listed twice');
    const permanent = contentRecord('2026 年度财务报告', 'text/plain', { kind: 'ANNUAL_REPORT', category: 'BG', retention: 'PERMANENT', archiveNo: 'ACME-2026-YJ-BG-00042' });
    expect(onlyFailure(run(permanent), 'metadata-types', 'AUTHENTICITY')).toBe('expiresOn "2036-12-31" is set, but a permanent record (ANNUAL_REPORT) does not expire');
    expect(failed(run({ ...permanent, expiresOn: null }))).toEqual([]);
    expect(result(run(voucherRecord({ retention: 'Y10', archiveNo: 'ACME-2026-D10-PZ-00042' })), 'metadata-types').detail).toBe(
      'retention "Y10" is not the period of kind BOOKKEEPING_VOUCHER (Y30)',
    );
  });

  it('metadata-types: for a fixed-asset card the disposal date governs when the five years start', () => {
    const card = contentRecord('固定资产卡片 FA-0042 办公电脑', 'text/plain', {
      kind: 'FIXED_ASSET_CARD', category: 'ZB', retention: 'Y5_AFTER_DISPOSAL', archiveNo: 'ACME-2015-D5-ZB-00042', fiscalYear: 2015,
      retentionStartsOn: '2027-01-01', expiresOn: '2031-12-31', disposedOn: '2026-06-30',
    });
    expect(failed(run(card))).toEqual([]);
    expect(onlyFailure(run({ ...card, retentionStartsOn: '2016-01-01' }), 'metadata-types', 'AUTHENTICITY')).toBe(
      'retentionStartsOn 2016-01-01 should be 2027-01-01, the day after the fiscal year of disposal (disposedOn 2026-06-30)',
    );
    expect(onlyFailure(run({ ...card, disposedOn: '2027-06-30', retentionStartsOn: '2028-01-01', expiresOn: '2032-12-31' }), 'metadata-types', 'AUTHENTICITY')).toBe(
      'disposedOn 2027-06-30 is after today 2027-03-15',
    );
    expect(onlyFailure(run(voucherRecord({ disposedOn: '2026-06-30' })), 'metadata-types', 'AUTHENTICITY')).toBe(
      'disposedOn 2026-06-30 is set, but only a fixed-asset card has a disposal date',
    );
  });

  it('archive-number: a number disagreeing with its fiscal year, its retention code or category, or malformed', () => {
    expect(onlyFailure(run(voucherRecord({ archiveNo: 'ACME-2025-D30-PZ-00042' })), 'archive-number', 'AUTHENTICITY')).toBe('archiveNo year 2025 disagrees with fiscalYear 2026');
    expect(onlyFailure(run(voucherRecord({ archiveNo: 'ACME-2026-D10-ZB-00042' })), 'archive-number', 'AUTHENTICITY')).toBe(
      'archiveNo retention code D10 disagrees with retention "Y30" (D30); archiveNo category ZB disagrees with category "PZ"',
    );
    const malformed = run(voucherRecord({ archiveNo: 'acme-2026-D30-PZ-42' }));
    expect(failed(malformed)).toEqual(['archive-number', 'sequence']);
    expect(result(malformed, 'archive-number').detail).toBe('archiveNo "acme-2026-D30-PZ-42" does not match fonds-year-retention-category-item (e.g. ACME-2026-D30-PZ-00001)');
    expect(result(malformed, 'sequence').detail).toBe('archiveNo "acme-2026-D30-PZ-42" carries no item number');
  });

  it('no-duplicate: another record holds the archive number or files the same voucher', () => {
    expect(onlyFailure(run(voucherRecord(), { duplicate: true }), 'no-duplicate', 'AUTHENTICITY')).toBe(
      'another record already holds archiveNo "ACME-2026-D30-PZ-00042" or voucher "6650c0ffee0000000000abcd"',
    );
  });

  it('location: the recorded location is not where the record is', () => {
    expect(onlyFailure(run(voucherRecord(), { actualLocation: 'mongodb:archive_records_restore' }), 'location', 'AUTHENTICITY')).toBe(
      'recorded location "mongodb:archive_records" differs from the actual location "mongodb:archive_records_restore"',
    );
  });
});

describe('INTEGRITY', () => {
  it('required-metadata: names every missing item, with voucher and source claim for voucher kinds', () => {
    const record = voucherRecord({ voucherId: null, filedBy: '  ' });
    expect(onlyFailure(run(record), 'required-metadata', 'INTEGRITY')).toBe(
      'required metadata missing: filedBy, voucherId (a BOOKKEEPING_VOUCHER names its voucher and source claim)',
    );
    expect(result(run(voucherRecord({ sourceClaimNo: null })), 'required-metadata').detail).toBe(
      'required metadata missing: sourceClaimNo (a BOOKKEEPING_VOUCHER names its voucher and source claim)',
    );
    // A bank statement names no voucher.
    expect(result(run(contentRecord('statement', 'text/plain')), 'required-metadata')).toMatchObject({ passed: true, detail: 'all required metadata present' });
  });

  it('sequence: a gap in the series, a series not starting at 1, a repeated item', () => {
    expect(onlyFailure(run(voucherRecord(), { previousItemInSeries: 40 }), 'sequence', 'INTEGRITY')).toBe('item 42 follows item 40: item 41 is missing');
    expect(onlyFailure(run(voucherRecord(), { previousItemInSeries: 38 }), 'sequence', 'INTEGRITY')).toBe('item 42 follows item 38: items 39 to 41 are missing');
    expect(onlyFailure(run(voucherRecord({ archiveNo: 'ACME-2026-D30-PZ-00003' }), { previousItemInSeries: null }), 'sequence', 'INTEGRITY')).toBe(
      'item 3 is the first of its series, which starts at 1: items 1 to 2 are missing',
    );
    expect(onlyFailure(run(voucherRecord(), { previousItemInSeries: 42 }), 'sequence', 'INTEGRITY')).toBe('item 42 does not follow item 42 (expected 43): repeated or out of order');
  });

  it('content-present: empty content, and base64 that decodes to nothing', () => {
    expect(result(run(voucherRecord({ content: '' })), 'content-present')).toMatchObject({ property: 'INTEGRITY', passed: false, detail: 'content is empty (status FILED)' });
    expect(result(run(contentRecord('====', 'image/png')), 'content-present').detail).toBe('content decodes to 0 bytes (image/png travels as base64)');
  });

  it('package-complete: entries that do not balance', () => {
    const entries = ENTRIES.map((e, i) => (i === 1 ? { ...e, debit: '103.00' } : e));
    const content = voucherJson({ entries });
    const detail = onlyFailure(run(voucherRecord({ content, contentDigest: sha256Hex(content) })), 'package-complete', 'INTEGRITY');
    expect(detail).toBe('entries do not balance: debit total 130300 fen, credit total 133000 fen; stated debit total "1330.00" disagrees with the entries\' debit sum 130300 fen');
  });

  it('package-complete: an invoice number listed in the metadata is missing from the content', () => {
    const content = voucherJson({ invoiceNumbers: [INVOICES[0]] });
    const detail = onlyFailure(run(voucherRecord({ content, contentDigest: sha256Hex(content) })), 'package-complete', 'INTEGRITY');
    expect(detail).toBe('invoice number 044002300111-00012345 listed in invoiceNumbers is not in the content');
    const none = voucherJson({ invoiceNumbers: [] });
    expect(result(run(voucherRecord({ content: none, contentDigest: sha256Hex(none) })), 'package-complete').detail).toBe(
      'invoice numbers 24312000000012345678, 044002300111-00012345 listed in invoiceNumbers are not in the content',
    );
  });

  it('package-complete: no entries, amounts that are not Money, a stated total that disagrees; other kinds are not applicable', () => {
    const noEntries = voucherJson({ entries: [] });
    expect(result(run(voucherRecord({ content: noEntries, contentDigest: sha256Hex(noEntries) })), 'package-complete').detail).toBe('the voucher package has no entries');
    const float = voucherJson({ entries: [{ ...ENTRIES[0], debit: 1200.5 }, ...ENTRIES.slice(1)] });
    expect(result(run(voucherRecord({ content: float, contentDigest: sha256Hex(float) })), 'package-complete').detail).toBe(
      'entries[0].debit 1200.5 is not a Money amount such as "1280.00"',
    );
    const total = voucherJson({ debitTotal: '1300.00' });
    expect(result(run(voucherRecord({ content: total, contentDigest: sha256Hex(total) })), 'package-complete').detail).toBe(
      'stated debit total "1300.00" disagrees with the entries\' debit sum 133000 fen',
    );
    expect(result(run(contentRecord('statement', 'text/plain')), 'package-complete')).toMatchObject({
      passed: true,
      detail: 'not applicable: the package rules cover bookkeeping vouchers in JSON (this is BANK_STATEMENT as text/plain)',
    });
  });
});

describe('USABILITY', () => {
  it('metadata-readable: control characters, unpaired surrogates and bidi overrides in metadata', () => {
    expect(onlyFailure(run(voucherRecord({ title: '记账凭证\u0007' })), 'metadata-readable', 'USABILITY')).toBe('title contains the control character U+0007 at position 4');
    const surrogate = run(voucherRecord({ filedBy: 'u-\uD800x' }));
    expect(onlyFailure(surrogate, 'metadata-readable', 'USABILITY')).toBe('filedBy contains an unpaired surrogate U+D800 at position 2, which is not valid UTF-8');
    expect(result(run(voucherRecord({ title: '报销 \u202E0001' })), 'metadata-readable').detail).toBe(
      'title contains the bidirectional control U+202E at position 3, which changes how it reads',
    );
  });

  it('format-allowed: a media type that is not allowed', () => {
    const doc = contentRecord('Word document', 'application/msword');
    expect(onlyFailure(run(doc), 'format-allowed', 'USABILITY')).toBe(`mediaType "application/msword" is not an allowed format (allowed: ${ALLOWED_MEDIA_TYPES.join(', ')})`);
  });

  it('format-allowed: bytes that are not the declared format', () => {
    const detail = (record: RecordUnderCheck): string => onlyFailure(run(record), 'format-allowed', 'USABILITY');
    expect(detail(contentRecord('{"entries": [', 'application/json'))).toMatch(/^content is not valid JSON: /);
    expect(detail(contentRecord('<a><b></a></b>', 'application/xml'))).toBe('closing tag </a> at offset 6 does not close <b>');
    expect(detail(contentRecord('<a><b/>', 'text/xml'))).toBe('element <a> is not closed');
    expect(detail(contentRecord('<a/><b/>', 'text/xml'))).toBe('second root element <b> at offset 4');
    expect(detail(contentRecord('statement', 'text/xml'))).toBe('XML content does not start with <?xml or <');
    expect(detail(contentRecord(Buffer.from('GIF89a\x01\x00', 'latin1'), 'image/png'))).toBe(
      'content does not start with the PNG signature 89 50 4E 47 0D 0A 1A 0A (starts 47 49 46 38 39 61 01 00)',
    );
    expect(detail(contentRecord(pdf().subarray(0, 60), 'application/pdf'))).toBe('PDF has no %%EOF marker in its last 1024 bytes: it is truncated');
    expect(detail(contentRecord(Buffer.from('hello, not a pdf'), 'application/pdf'))).toBe('content does not start with %PDF- (starts 68 65 6C 6C 6F 2C 20 6E)');
    expect(detail(contentRecord(zip({ 'Doc_0/Document.xml': '<Document/>' }), 'application/ofd'))).toBe('OFD package has no OFD.xml entry (entries: Doc_0/Document.xml)');
    expect(detail(contentRecord(pdf(), 'application/ofd'))).toBe('OFD content is not a ZIP package (starts 25 50 44 46, not 50 4B 03 04)');
    expect(detail(contentRecord('not base64!', 'image/jpeg'))).toBe('content is not valid base64 (image/jpeg travels as base64)');
    expect(detail(contentRecord('日期\uDC00', 'text/csv'))).toBe('content is not valid UTF-8: unpaired surrogate U+DC00 at position 2');
  });

  it('environment-recorded: an environment without a version', () => {
    expect(onlyFailure(run(voucherRecord({ environment: 'oa-archive-federation' })), 'environment-recorded', 'USABILITY')).toBe(
      'environment "oa-archive-federation" does not name both a producer and its version (e.g. "oa-archive-federation 0.1.0")',
    );
    expect(result(run(voucherRecord({ environment: '' })), 'environment-recorded').detail).toBe('environment is not recorded');
    expect(result(run(voucherRecord({ environment: 'Kingdee EAS 8.5' })), 'environment-recorded').passed).toBe(true);
  });

  it('no-private-encoding: an encrypted PDF', () => {
    const encrypted = contentRecord(pdf('5 0 obj\n<< /Filter /Standard /V 2 /R 3 /O (x) /U (y) /P -4 >>\nendobj\n', ' /Encrypt 5 0 R'), 'application/pdf');
    expect(onlyFailure(run(encrypted), 'no-private-encoding', 'USABILITY')).toMatch(/^PDF is encrypted \(\/Encrypt at byte \d+\)$/);
  });

  it('no-private-encoding: a zip disguised as text/plain', () => {
    const report = run(contentRecord(zip({ 'statement.csv': 'a,b' }), 'text/plain'));
    expect(result(report, 'no-private-encoding')).toMatchObject({
      property: 'USABILITY',
      passed: false,
      detail: 'content holds ZIP magic (50 4B 03 04) at byte 0: a compressed archive inside text/plain',
    });
    // Nor is it text.
    expect(result(report, 'format-allowed').detail).toBe('content holds the binary control character U+0003 at position 2, so it is not text');
  });

  it('no-private-encoding: gzip pasted into text, base64 of an archive, PGP armour, an encrypted OFD entry', () => {
    const gz = gzipSync('secret ledger').toString('latin1');
    expect(result(run(contentRecord(gz, 'text/plain')), 'no-private-encoding').detail).toBe('content holds GZIP magic (1F 8B 08) at byte 0: a compressed archive inside text/plain');
    const b64 = `附件: ${zip({ 'a.txt': 'hidden' }).toString('base64')}`;
    expect(onlyFailure(run(contentRecord(b64, 'text/plain')), 'no-private-encoding', 'USABILITY')).toMatch(/^content holds base64 of a compressed archive \("UEsDBBQAAAAA"…\) at position 4$/);
    const pgp = '-----BEGIN PGP MESSAGE-----\n\nhQEMA5x...\n-----END PGP MESSAGE-----\n';
    expect(onlyFailure(run(contentRecord(pgp, 'text/plain')), 'no-private-encoding', 'USABILITY')).toBe('content holds PGP armour (-----BEGIN PGP MESSAGE-----) at byte 0');
    const ofd = contentRecord(zip({ 'OFD.xml': OFD_XML }, 1), 'application/ofd');
    expect(onlyFailure(run(ofd), 'no-private-encoding', 'USABILITY')).toBe('OFD entry "OFD.xml" is encrypted');
  });
});

describe('SECURITY', () => {
  it('malware-scan: the EICAR test string inside content', () => {
    const report = run(contentRecord(`银行对账单\n${EICAR}\n`, 'text/plain'));
    expect(onlyFailure(report, 'malware-scan', 'SECURITY')).toBe('EICAR test signature at byte 16');
  });

  it('malware-scan: a Windows PE executable, an ELF, a Mach-O', () => {
    const pe = run(contentRecord(peExecutable(), 'image/jpeg'));
    expect(failed(pe)).toEqual(['format-allowed', 'malware-scan']);
    expect(result(pe, 'malware-scan')).toMatchObject({ property: 'SECURITY', passed: false, detail: 'Windows PE executable: MZ header with PE signature at offset 0x80' });
    const elf = run(contentRecord(Buffer.from('\x7fELF\x02\x01\x01\0\0\0\0\0', 'latin1'), 'image/tiff'));
    expect(result(elf, 'malware-scan').detail).toBe('ELF executable (7F 45 4C 46 at offset 0)');
    const macho = run(contentRecord(Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]), 'image/png'));
    expect(result(macho, 'malware-scan').detail).toBe('Mach-O or fat binary (CF FA ED FE at offset 0)');
    // "MZ" alone, without a PE header where 0x3C points, is text.
    expect(failed(run(contentRecord(`MZ ${'x'.repeat(100)}`, 'text/plain')))).toEqual([]);
  });

  it('malware-scan: a PDF with /JavaScript, also when the name is escaped or inside a compressed stream', () => {
    const script = contentRecord(pdf('3 0 obj\n<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>\nendobj\n'), 'application/pdf');
    const detail = onlyFailure(run(script), 'malware-scan', 'SECURITY');
    expect(detail).toMatch(/^PDF holds \/JavaScript at byte \d+; PDF holds \/JS at byte \d+$/);

    const escaped = contentRecord(pdf('3 0 obj\n<< /S /J#61vaScript /JS (x) >>\nendobj\n'), 'application/pdf');
    expect(result(run(escaped), 'malware-scan').detail).toMatch(/PDF holds \/JavaScript at byte \d+/);

    const hidden = deflateSync('3 0 << /S /Launch /F (cmd.exe) >>');
    const objStm = Buffer.concat([Buffer.from(`4 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length ${hidden.length} >>\nstream\n`, 'latin1'), hidden, Buffer.from('\nendstream\nendobj\n', 'latin1')]);
    const compressed = contentRecord(pdf(objStm.toString('latin1')), 'application/pdf');
    expect(onlyFailure(run(compressed), 'malware-scan', 'SECURITY')).toMatch(/^PDF holds \/Launch in the compressed stream at byte \d+$/);

    const attachment = contentRecord(pdf('6 0 obj\n<< /Type /EmbeddedFile /Length 3 >>\nstream\nabc\nendstream\nendobj\n'), 'application/pdf');
    expect(result(run(attachment), 'malware-scan').detail).toMatch(/^PDF holds \/EmbeddedFile at byte \d+$/);
    // A name that only starts like one is not it.
    expect(failed(run(contentRecord(pdf('7 0 obj\n<< /JSON 1 /JavaScripts 2 >>\nendobj\n'), 'application/pdf')))).toEqual([]);
  });

  it('storage-sound: storage not verified', () => {
    expect(onlyFailure(run(voucherRecord(), { storageVerified: false }), 'storage-sound', 'SECURITY')).toBe(
      'storage not verified: the write was not acknowledged or a re-read did not return the same digest',
    );
  });

  it('filing-process: filing not in a transaction, or by an identity not authorised', () => {
    expect(onlyFailure(run(voucherRecord(), { filedInTransaction: false }), 'filing-process', 'SECURITY')).toBe('the filing write did not run in one transaction');
    expect(onlyFailure(run(voucherRecord(), { filedByAuthorisedIdentity: false, filedInTransaction: false }), 'filing-process', 'SECURITY')).toBe(
      'filedBy "u-archivist-01" was not an authenticated, authorised identity; the filing write did not run in one transaction',
    );
  });
});

describe('helpers and robustness', () => {
  it('sha256Hex hashes bytes and UTF-8 strings', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(Buffer.from('abc'))).toBe(sha256Hex('abc'));
  });

  it('contentBytes decodes as fixity.contentOf does, so the digests agree with filing', () => {
    for (const mediaType of [...ALLOWED_MEDIA_TYPES, 'application/octet-stream', 'image/gif']) {
      const content = BINARY_MEDIA_TYPES.includes(mediaType) || mediaType.startsWith('image/') || mediaType.endsWith('octet-stream') ? PNG.toString('base64') : '凭证 1330.00';
      expect(contentBytes({ content, mediaType }).equals(contentOf(content, mediaType)), mediaType).toBe(true);
    }
    expect(BINARY_MEDIA_TYPES.every((t) => ALLOWED_MEDIA_TYPES.includes(t))).toBe(true);
    expect(contentBytes({ content: null, mediaType: 'application/json' })).toHaveLength(0);
  });

  it('reports, not throws, on a record with wrong runtime types', () => {
    const broken = { ...voucherRecord(), invoiceNumbers: null, kind: 'LETTER', fixity: null } as unknown as RecordUnderCheck;
    const report = run(broken);
    expect(report.passed).toBe(false);
    expect(report.results).toHaveLength(17);
    expect(result(report, 'fixity-digest').detail).toBe('fixity is missing');
    expect(result(report, 'metadata-types').detail).toBe('kind "LETTER" is not a kind of the retention table; invoiceNumbers null is not a list');
  });

  it('throws on facts the caller got wrong', () => {
    expect(() => run(voucherRecord(), { today: '15.03.2027' })).toThrow(new TypeError('facts.today "15.03.2027" is not a date YYYY-MM-DD'));
    expect(() => run(voucherRecord(), { previousItemInSeries: 0 })).toThrow(TypeError);
  });
});
