// Filing: a record gets its archive number (gap-free within its series), its place in the fixity chain, and
// passes the four-properties check, all in one transaction with its ARCHIVE_FILED event. A record that fails the
// check is not filed, but for an approved claim's voucher whose claim texts are unreadable: it is filed with the
// problem in the report kept with it (an approved claim is always filed; docs/api.md). Filed records never change; a correction is a new record that references the one it corrects.
import type { ClientSession } from 'mongoose';
import { nextSequence } from '../../platform/integration/events.ts';
import { badInput, conflict, forbidden, gqlError, notFound, today } from '../../platform/graphql.ts';
import { formatMoney } from '../../platform/money.ts';
import { disposalDay, fiscalYear } from '../../platform/input-bounds.ts';
import { TEXT_FIELDS, clip, requiredText } from '../../platform/text-policy.ts';
import { hasAnyRole } from '../../platform/identity.ts';
import { rolesFor } from '../../schema/permissions.ts';
import { type ArchiveContext, PRODUCER, STORAGE_LOCATION } from './context.ts';
import { canonicalJson } from '../../platform/integration/canonical-json.ts';
import type { ChainLink } from '../../platform/integration/hash-chain.ts';
import { type UnsealedRecord, contentOf, fixityDigest, recordChain, sha256 } from './fixity.ts';
import { type HistorySubject, RecordHistory, recordsTransaction } from './history.ts';
import { type CheckResult, type FourPropertiesReport, checkFourProperties } from './four-properties/index.ts';
import { toObjectId } from '../../platform/ids.ts';
import type { ArchiveRecordDoc, ArchivedFileDoc, VoucherDoc } from './models.ts';
import { checkFiles, isFileResult } from './originals/check.ts';
import { copyOriginals, filesInCustody } from './originals/package.ts';
import { ArchiveFiles } from './originals/store.ts';
import { abandonPastDeadline } from '../../platform/integration/served-request.ts';
import { MAX_VOUCHER_BATCH } from './vouchers.ts';
import { ARCHIVE_KINDS, type ArchiveKind, RETENTION_TABLE, archiveNumber, retentionFor, seriesOf } from './retention.ts';

export interface RecordDraft {
  kind: ArchiveKind;
  title: string;
  fiscalYear: number;
  content: string;
  mediaType: string;
  disposedOn?: string | null;
  correctsId?: string | null;
  voucherId?: string | null;
  sourceClaimNo?: string | null;
  invoiceNumbers?: string[];
  /**
   * The record files an approved claim's voucher: a usability problem in the metadata taken from the claim is
   * reported in its four-properties report instead of refusing it, with what the text policy refused in the
   * claim's texts (docs/api.md#approved-claims-are-always-filed).
   */
  approvedClaim?: { textProblems: string[] };
  /** Whose claim the voucher books, when the caller has the voucher at hand (else it is read for the ARCHIVE_FILED event). */
  source?: VoucherSource;
  /** The package's original documents, already copied into `archive_files`, with their bytes as read back there. */
  originals?: Array<{ file: ArchivedFileDoc; bytes: Buffer | null }>;
}

/** Record metadata taken from the approved claim: a problem in these alone does not refuse a voucher's record. */
const CLAIM_METADATA = /^(title|sourceClaimNo|invoiceNumbers\[\d+\]) contains /;

/**
 * The problems a filing may carry without being refused: for an approved claim's voucher, unreadable metadata that
 * came from the claim (USABILITY metadata-readable), and nothing else. Integrity, authenticity and security findings,
 * and every finding on records people file, still refuse.
 */
function tolerated(draft: RecordDraft, result: CheckResult): boolean {
  // An original's format or contents (an encrypted PDF, a HEIC photo) are findings about the evidence, which the
  // archive keeps as it came; a copy missing or not the bytes filed is not, and refuses (the filing is retried).
  if (draft.approvedClaim && isFileResult(result)) return result.check !== 'file-present' && result.check !== 'file-digest';
  if (!draft.approvedClaim || result.property !== 'USABILITY' || result.check !== 'metadata-readable') return false;
  return result.detail.split('; ').every((problem) => CLAIM_METADATA.test(problem));
}

/** The report stored with the record: the check's, with the claim's refused texts added to metadata-readable. */
function filingReport(draft: RecordDraft, report: FourPropertiesReport, checkedAt: Date): NonNullable<ArchiveRecordDoc['filingReport']> {
  const sourceProblems = draft.approvedClaim?.textProblems.map((p) => `source claim ${p}`) ?? [];
  if (!sourceProblems.length) return { passed: report.passed, results: report.results, checkedAt };
  const results = report.results.map((r) =>
    r.property === 'USABILITY' && r.check === 'metadata-readable'
      ? { ...r, passed: false, detail: [...(r.passed ? [] : [r.detail]), ...sourceProblems].join('; ') }
      : r,
  );
  return { passed: false, results, checkedAt };
}

/** Who files vouchers and other records: the model's rules (schema/permissions.ts); service identities too. */
const VOUCHER_FILERS = rolesFor('Mutation', 'fileVoucher');
const RECORD_FILERS = rolesFor('Mutation', 'fileArchiveRecord');

/** Files a record inside the caller's transaction (for flows that file as part of a larger change). */
export async function fileInTransaction(ctx: ArchiveContext, session: ClientSession, draft: RecordDraft): Promise<ArchiveRecordDoc> {
  return (await fileManyInTransaction(ctx, session, [draft]))[0];
}

/** Whose claim a voucher books: named by the ARCHIVE_FILED event, so that subscribers are scoped as claim readers are. */
export interface VoucherSource {
  claimId: string;
  claimNo: string;
  applicantId: string;
  departmentId: string;
}

/**
 * Files records in order inside the caller's transaction: each gets its archive number, its place in the chain and
 * its four-properties check as if filed alone, but the database is asked a fixed number of times for the lot (a
 * batch of the sync pipeline's vouchers holds the records' lane once). One that fails its check refuses them all.
 * `filedVoucherIds`: a caller that has read in this transaction which of the drafts' vouchers are already filed says
 * so (none of its drafts is one of them), and that read is not made twice.
 */
export async function fileManyInTransaction(ctx: ArchiveContext, session: ClientSession, drafts: readonly RecordDraft[], known: { filedVoucherIds?: ReadonlySet<string> } = {}): Promise<ArchiveRecordDoc[]> {
  if (!drafts.length) return [];
  // The copies the records will list, written in this transaction: a destruction or the orphan sweep deleting one of
  // them meanwhile conflicts with it, or makes the filing fail and copy again (originals/store.ts holdListed).
  const listed = drafts.flatMap((d) => d.originals?.map((o) => o.file.fileId) ?? []);
  if (listed.length) await new ArchiveFiles(ctx.connection).holdListed(session, listed);
  // Archive numbers: consecutive items of each series, drawn with one increment per series.
  const series = new Map<string, { drafts: RecordDraft[]; first: number }>();
  const planned = drafts.map((draft) => {
    const { category } = RETENTION_TABLE[draft.kind];
    const dates = retentionFor(draft.kind, draft.fiscalYear, draft.disposedOn);
    const key = seriesOf(ctx.settings.fonds, draft.fiscalYear, dates.retention, category);
    const group = series.get(key) ?? { drafts: [], first: 0 };
    group.drafts.push(draft);
    series.set(key, group);
    return { draft, category, dates, key, index: group.drafts.length - 1, contentDigest: sha256(contentOf(draft.content, draft.mediaType)) };
  });
  for (const [key, group] of series) group.first = await nextSequence(ctx.connection, key, session, group.drafts.length);
  const filings = planned.map((p) => {
    const item = series.get(p.key)!.first + p.index;
    return { ...p, item, archiveNo: archiveNumber(ctx.settings.fonds, p.draft.fiscalYear, p.dates.retention, p.category, item) };
  });
  // What is already filed under these numbers or for these vouchers (two queries on unique indexes, not an $or: the
  // engine plans an $or as a scan of the whole archive).
  const voucherIds = filings.flatMap((f) => (f.draft.voucherId ? [f.draft.voucherId] : []));
  const taken = new Set(
    (await ctx.models.ArchiveRecord.find({ archiveNo: { $in: filings.map((f) => f.archiveNo) } }, { archiveNo: 1 }).session(session).lean<{ archiveNo: string }[]>()).map((r) => r.archiveNo),
  );
  const filedVouchers = new Set(
    known.filedVoucherIds ??
      (voucherIds.length ? (await ctx.models.ArchiveRecord.find({ voucherId: { $in: voucherIds } }, { voucherId: 1 }).session(session).lean<{ voucherId: string }[]>()).map((r) => r.voucherId) : []),
  );
  const place = (f: (typeof filings)[number], link: ChainLink<ArchiveRecordDoc>): UnsealedRecord => ({
    archiveNo: f.archiveNo,
    kind: f.draft.kind,
    category: f.category,
    title: f.draft.title,
    fiscalYear: f.draft.fiscalYear,
    ...f.dates,
    extendedUntil: null,
    disposedOn: f.draft.disposedOn ?? null,
    status: 'FILED' as const,
    voucherId: f.draft.voucherId ?? null,
    sourceClaimNo: f.draft.sourceClaimNo ?? null,
    invoiceNumbers: f.draft.invoiceNumbers ?? [],
    content: f.draft.content,
    mediaType: f.draft.mediaType,
    contentDigest: f.contentDigest,
    chainSeq: link.seq,
    previousArchiveNo: link.previous?.archiveNo ?? null,
    correctsId: f.draft.correctsId ?? null,
    correctedById: null,
    holds: [],
    filedBy: ctx.principal.sub,
    filedAt: new Date(),
    environment: `${PRODUCER} node/${process.versions.node}`,
    destroyedAt: null,
    ...(f.draft.originals?.length ? { files: f.draft.originals.map((o) => o.file) } : {}),
  });
  // The four-properties check runs on each sealed record, before any is stored: one that fails is not filed (but for
  // the claim metadata of an approved claim's voucher, see tolerated()).
  const reports = new Map<string, NonNullable<ArchiveRecordDoc['filingReport']>>();
  const byNumber = new Map(filings.map((f) => [f.archiveNo, f]));
  const check = (record: Omit<ArchiveRecordDoc, '_id'>, { previousDigest }: ChainLink<ArchiveRecordDoc>) => {
    const f = byNumber.get(record.archiveNo)!;
    const duplicate = taken.has(record.archiveNo) || (record.voucherId !== null && filedVouchers.has(record.voucherId));
    const found = checkFourProperties(record, {
      duplicate,
      previousItemInSeries: f.item > 1 ? f.item - 1 : null,
      expectedDigest: record.fixity.digest,
      previousDigest,
      recordedLocation: STORAGE_LOCATION,
      actualLocation: STORAGE_LOCATION,
      filedByAuthorisedIdentity: true,
      filedInTransaction: session.inTransaction(),
      storageVerified: true,
      today: today(ctx.settings.timeZone),
    });
    // Each original document, checked on the bytes the archive's bucket holds (originals/check.ts).
    if (f.draft.originals?.length) {
      found.results.push(...checkFiles(f.draft.originals));
      found.passed = found.results.every((r) => r.passed);
    }
    const failed = found.results.filter((r) => !r.passed && !tolerated(f.draft, r));
    if (failed.length) {
      throw gqlError('BAD_USER_INPUT', `four-properties check failed: ${failed.map((x) => `${x.property} ${x.check}: ${x.detail}`).join('; ')}`, { report: found });
    }
    // A voucher filed twice in one batch is a duplicate of the first.
    if (record.voucherId !== null) filedVouchers.add(record.voucherId);
    const report = filingReport(f.draft, found, record.filedAt);
    reports.set(record.archiveNo, report);
    // Stored with the record, outside its fixity digest: a finding about a record, not the record.
    return { filingReport: report };
  };
  // The chain counter serialises filings: concurrent ones conflict and the driver retries them in order.
  const docs = await recordChain(ctx.models.ArchiveRecord).append(filings, place, { session, check });
  // Storage soundness: what was written reads back with the same digests.
  const readBack = new Map(
    (await ctx.models.ArchiveRecord.find({ _id: { $in: docs.map((d) => d._id) } }, null, { session }).lean<ArchiveRecordDoc[]>()).map((r) => [r._id.toHexString(), r]),
  );
  const stored = docs.map((doc, i) => {
    const r = readBack.get(doc._id.toHexString());
    if (!r || r.fixity.digest !== doc.fixity.digest || sha256(contentOf(r.content ?? '', r.mediaType)) !== filings[i].contentDigest) {
      throw new Error(`archive record ${doc.archiveNo} did not read back as written`);
    }
    return r;
  });
  // The filings and, for a correction, the original's change are entries of the records' histories (history.ts).
  const changes: Parameters<RecordHistory['append']>[1][number][] = [];
  for (const [i, record] of stored.entries()) {
    changes.push({ record, change: { action: 'FILED', actorId: ctx.principal.sub, at: record.filedAt } });
    const correctsId = filings[i].draft.correctsId;
    if (!correctsId) continue;
    const original = await ctx.models.ArchiveRecord.findOneAndUpdate(
      { _id: correctsId },
      { $set: { correctedById: record._id.toHexString() } },
      { session, returnDocument: 'after', projection: { content: 0 } },
    ).lean<HistorySubject>();
    if (original) {
      changes.push({ record: original, change: { action: 'CORRECTED', actorId: ctx.principal.sub, at: record.filedAt, ref: { kind: 'CORRECTION', id: record._id.toHexString(), no: record.archiveNo } } });
    }
  }
  await new RecordHistory(ctx.connection).append(session, changes);
  // A voucher's record is part of its claim's story: the event names the claim, and carries whose claim it is so
  // that subscribers are scoped as claim readers are.
  const sources = await voucherSources(ctx, session, filings.map((f) => f.draft));
  await ctx.events.appendMany(
    session,
    stored.map((record) => {
      const source = record.voucherId ? sources.get(record.voucherId) : undefined;
      const report = reports.get(record.archiveNo);
      return {
        type: 'ARCHIVE_FILED',
        subject: source ? { type: 'ExpenseClaim', id: source.claimId } : { type: 'ArchiveRecord', id: record._id.toHexString() },
        actor: ctx.principal.sub,
        payload: {
          archiveRecordId: record._id.toHexString(),
          archiveNo: record.archiveNo,
          kind: record.kind,
          voucherId: record.voucherId,
          fiscalYear: record.fiscalYear,
          // What an approved claim's record was filed with despite its presentation (operators are alerted).
          ...(report && !report.passed ? { usabilityProblems: report.results.filter((r) => !r.passed).map((r) => `${r.property} ${r.check}: ${r.detail}`) } : {}),
          ...(source ? { claimId: source.claimId, claimNo: source.claimNo, applicantId: source.applicantId, departmentId: source.departmentId } : {}),
        },
      };
    }),
  );
  return stored;
}

/** Whose claims the drafts' vouchers book, by voucher id: as the drafts carry it, else read. */
async function voucherSources(ctx: ArchiveContext, session: ClientSession, drafts: readonly RecordDraft[]): Promise<Map<string, VoucherSource>> {
  const sources = new Map<string, VoucherSource>();
  const unknown: string[] = [];
  for (const d of drafts) {
    if (!d.voucherId) continue;
    if (d.source) sources.set(d.voucherId, d.source);
    else unknown.push(d.voucherId);
  }
  if (!unknown.length) return sources;
  const vouchers = await ctx.models.Voucher.find({ _id: { $in: unknown } }, { claimId: 1, claimNo: 1, source: 1 }, { session }).lean<Pick<VoucherDoc, '_id' | 'claimId' | 'claimNo' | 'source'>[]>();
  for (const v of vouchers) sources.set(v._id.toHexString(), sourceOf(v));
  return sources;
}

const sourceOf = (v: Pick<VoucherDoc, 'claimId' | 'claimNo' | 'source'>): VoucherSource => ({ claimId: v.claimId, claimNo: v.claimNo, applicantId: v.source.applicantId, departmentId: v.source.departmentId });

/** The content of a filed voucher: the voucher with its source claim metadata, in canonical JSON. */
export function voucherContent(v: VoucherDoc): string {
  return canonicalJson({
    voucherNo: v.voucherNo,
    date: v.date,
    fiscalYear: v.fiscalYear,
    period: v.period,
    entries: v.entries.map((e) => ({ summary: e.summary, accountCode: e.accountCode, accountName: e.accountName, debit: formatMoney(e.debitFen), credit: formatMoney(e.creditFen) })),
    debitTotal: formatMoney(v.debitTotalFen),
    creditTotal: formatMoney(v.creditTotalFen),
    source: { claimId: v.claimId, claimNo: v.claimNo, title: v.source.title, category: v.source.category, applicantId: v.source.applicantId, applicantName: v.source.applicantName, approvedAt: v.source.approvedAt, invoiceNumbers: v.source.invoiceNumbers, total: formatMoney(v.source.totalFen) },
  });
}

/** Files a voucher as an archive record, or returns the record it already has. */
export async function fileVoucher(ctx: ArchiveContext, voucherId: string): Promise<ArchiveRecordDoc> {
  return (await fileVouchers(ctx, [voucherId]))[0];
}

/**
 * fileVoucher for many vouchers at once (the sync pipeline's batches), in the order given: the records not yet filed
 * are filed in one transaction (fileManyInTransaction), and their chains sealed once. All or nothing: a voucher it
 * cannot file refuses the batch, and the caller sends them one by one to learn which.
 */
export async function fileVouchers(ctx: ArchiveContext, voucherIds: readonly string[]): Promise<ArchiveRecordDoc[]> {
  if (ctx.principal.kind !== 'service' && !hasAnyRole(ctx.principal, VOUCHER_FILERS)) throw forbidden('Vouchers are filed by the sync service or an ARCHIVIST');
  if (voucherIds.length > MAX_VOUCHER_BATCH) throw badInput(`at most ${MAX_VOUCHER_BATCH} vouchers at once`, 'voucherIds');
  // As stored (an id may be sent in capitals).
  const asked = voucherIds.map((id) => toObjectId(id)?.toHexString());
  if (asked.some((id) => id === undefined)) throw notFound('Voucher');
  const ids = [...new Set(asked as string[])];
  const vouchers = new Map((await ctx.models.Voucher.find({ _id: { $in: ids } }).lean<VoucherDoc[]>()).map((v) => [v._id.toHexString(), v]));
  if (vouchers.size !== ids.length) throw notFound('Voucher');
  const recordsOf = async (session?: ClientSession) =>
    new Map((await ctx.models.ArchiveRecord.find({ voucherId: { $in: ids } }, null, { session }).lean<ArchiveRecordDoc[]>()).map((r) => [r.voucherId!, r]));
  let records = await recordsOf();
  // The claims' originals are copied into the archive's own bucket before the transaction (originals/package.ts),
  // not for a caller that is gone.
  abandonPastDeadline('arrival');
  const originals = await copyOriginals(ctx, [...vouchers.values()].filter((v) => !records.has(v._id.toHexString())));
  let filedAny = false;
  for (let attempt = 1; records.size < ids.length; attempt++) {
    try {
      const read = records;
      await recordsTransaction(ctx.connection, async (session) => {
        // Filed meanwhile (a retried call whose first attempt committed late): that record is the answer. The first
        // attempt goes by the read above; a record committed since makes its insert fail on the unique voucherId,
        // and the next attempt reads again in its transaction.
        const already = attempt === 1 ? read : await recordsOf(session);
        const drafts = ids.filter((id) => !already.has(id)).map((id) => voucherDraft(vouchers.get(id)!, originals.get(id)));
        const filed = await fileManyInTransaction(ctx, session, drafts, { filedVoucherIds: new Set(already.keys()) });
        records = new Map([...already, ...filed.map((r) => [r.voucherId!, r] as const)]);
      });
      filedAny = true;
    } catch (err) {
      // A concurrent filing of one of the vouchers won the unique index: nothing of this batch was stored. Those
      // records are the answer; the rest is filed again (a few times at most, then the error stands).
      if ((err as { code?: number }).code !== 11000 || attempt >= 3) throw err;
      records = await recordsOf();
    }
  }
  if (filedAny) await ctx.seals?.afterFiling();
  return asked.map((id) => records.get(id!)!);
}

/** What a voucher is filed as: its record draft. */
function voucherDraft(voucher: VoucherDoc, originals?: RecordDraft['originals']): RecordDraft {
  return {
    ...(originals?.length ? { originals } : {}),
    kind: 'BOOKKEEPING_VOUCHER',
    title: clip(`记账凭证 ${voucher.voucherNo} ${voucher.source.title}`, 200),
    fiscalYear: voucher.fiscalYear,
    content: voucherContent(voucher),
    mediaType: 'application/json',
    voucherId: voucher._id.toHexString(),
    sourceClaimNo: voucher.claimNo,
    invoiceNumbers: voucher.source.invoiceNumbers,
    approvedClaim: { textProblems: voucher.source.textProblems ?? [] },
    source: sourceOf(voucher),
  };
}

/** ARCHIVIST (or the archive's own flows, as a service identity) files any other kind of record, or a correction. */
export async function fileRecord(ctx: ArchiveContext, draft: RecordDraft): Promise<ArchiveRecordDoc> {
  if (ctx.principal.kind !== 'service' && !hasAnyRole(ctx.principal, RECORD_FILERS)) throw forbidden('Archive records are filed by an ARCHIVIST');
  if (!ARCHIVE_KINDS.includes(draft.kind)) throw badInput(`unknown kind ${draft.kind}`, 'kind');
  if (draft.kind === 'BOOKKEEPING_VOUCHER' && !draft.correctsId) throw badInput('bookkeeping vouchers are filed with fileVoucher', 'kind');
  const title = requiredText(draft.title, 'title', TEXT_FIELDS.recordTitle);
  // Dates within reason (platform/input-bounds.ts): a disposal before the card's year would expire it at once.
  const clock = { timeZone: ctx.settings.timeZone, now: ctx.clock?.() ?? new Date() };
  fiscalYear('fiscalYear', draft.fiscalYear, clock);
  if (draft.disposedOn && draft.kind !== 'FIXED_ASSET_CARD') throw badInput('disposedOn applies to fixed-asset cards only', 'disposedOn');
  if (draft.disposedOn) disposalDay('disposedOn', draft.disposedOn, draft.fiscalYear, clock);
  if (!draft.content) throw badInput('content must not be empty', 'content');
  if (draft.correctsId) {
    const original = toObjectId(draft.correctsId) ? await ctx.models.ArchiveRecord.findById(draft.correctsId).lean<ArchiveRecordDoc>() : null;
    if (!original) throw badInput('correctsId: no such archive record', 'correctsId');
    if (original.correctedById) throw conflict(`record ${original.archiveNo} is already corrected`);
    if (original.status === 'DESTROYED') throw conflict(`record ${original.archiveNo} is destroyed`);
  }
  let filed: ArchiveRecordDoc | undefined;
  await recordsTransaction(ctx.connection, async (session) => {
    filed = await fileInTransaction(ctx, session, { ...draft, title });
  });
  await ctx.seals?.afterFiling();
  return filed!;
}

/** The four-properties check of a record in custody, from what the database holds now. */
export async function checkRecordInCustody(ctx: ArchiveContext, id: string) {
  const record = toObjectId(id) ? await ctx.models.ArchiveRecord.findById(id).lean<ArchiveRecordDoc>() : null;
  if (!record) throw notFound('Archive record');
  const Records = ctx.models.ArchiveRecord;
  const previous = record.chainSeq > 1 ? await Records.findOne({ chainSeq: record.chainSeq - 1 }).lean<ArchiveRecordDoc>() : null;
  const previousDigest = previous?.fixity.digest ?? null;
  const series = record.archiveNo.slice(0, record.archiveNo.lastIndexOf('-') + 1);
  const item = Number(record.archiveNo.slice(series.length));
  // The highest item number below this one that exists in the series: item - 1 unless a record is missing.
  const lower = await Records.find({ archiveNo: { $gte: `${series}`, $lt: record.archiveNo } }, { archiveNo: 1 }).sort({ archiveNo: -1 }).limit(1).lean<Array<{ archiveNo: string }>>();
  const previousItem = lower.length ? Number(lower[0].archiveNo.slice(series.length)) : null;
  const duplicates = await Records.countDocuments({ $or: [{ archiveNo: record.archiveNo }, ...(record.voucherId ? [{ voucherId: record.voucherId }] : [])] });
  const report = checkFourProperties(record, {
    duplicate: duplicates > 1,
    previousItemInSeries: item > 1 ? previousItem ?? 0 : null,
    expectedDigest: fixityDigest(record, previousDigest),
    previousDigest,
    recordedLocation: STORAGE_LOCATION,
    actualLocation: STORAGE_LOCATION,
    filedByAuthorisedIdentity: true,
    filedInTransaction: true,
    storageVerified: true,
    today: today(ctx.settings.timeZone),
  });
  // Each original document, read back from the archive's bucket as it is now.
  const results = [...report.results, ...checkFiles(await filesInCustody(ctx, record))];
  return { archiveNo: record.archiveNo, passed: results.every((r) => r.passed), results, checkedAt: new Date() };
}
