// Destruction: the register refuses what may not be destroyed (naming each record and why), needs every
// signature, aborts as a whole when a record was put on hold meanwhile, and keeps metadata, the register and the
// fixity chain while it removes the content and logs each destruction.
import { beforeAll, describe, expect, it } from 'vitest';
import { AccessLog, type AccessLogEntryDoc, verifyAccessLog } from '../../../subgraphs/archive/lifecycle/access-log.ts';
import { readContent } from '../../../subgraphs/archive/lifecycle/content.ts';
import { appraise, dueForAppraisal } from '../../../subgraphs/archive/lifecycle/appraisal.ts';
import { decideLoan, requestLoan, startLoan } from '../../../subgraphs/archive/lifecycle/borrowing.ts';
import {
  type DestructionRegisterDoc,
  cancelDestruction,
  destructionRoute,
  fileDestructionRegister,
  getRegister,
  listRegisters,
  pendingSignatories,
  proposeDestruction,
  registerModel,
  registersAwaiting,
  signDestruction,
  yearsServed,
} from '../../../subgraphs/archive/lifecycle/destruction/index.ts';
import { placeHold, releaseHold } from '../../../subgraphs/archive/lifecycle/holds.ts';
import type { ArchiveRecordDoc } from '../../../subgraphs/archive/models.ts';
import { ArchiveFiles } from '../../../subgraphs/archive/originals/store.ts';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectId } from 'mongodb';
import { PEOPLE, type Person, codeOf, idOf, rejection, useLifecycle, who } from './fixture.ts';

const fx = useLifecycle('destruction');
const DEC_1 = new Date('2026-12-01T02:00:00Z');

/** Every signatory of a register, handlers first: proposer archivist1, second handler clerk. */
const SIGNERS: Person[] = ['archivist1', 'clerk', 'unitHead', 'archivist2', 'finHead', 'itHead'];

async function expired(kind: 'TAX_RETURN' | 'BANK_STATEMENT' | 'BANK_RECONCILIATION', year: number, title: string, appraised = true): Promise<ArchiveRecordDoc> {
  const r = await fx.file(kind, year, title);
  if (appraised) await appraise(fx.svc, who('archivist2'), idOf(r), `${title}: no further value, no open matters.`);
  return r;
}

const recordOf = async (r: ArchiveRecordDoc) => (await fx.svc.models.ArchiveRecord.findById(r._id).lean())!;
const propose = (records: ArchiveRecordDoc[], reason = 'Expired, appraised, no open matters') =>
  proposeDestruction(fx.svc, who('archivist1'), { recordIds: records.map(idOf), reason, secondHandlerId: PEOPLE.clerk.id });
const sign = (person: Person, register: DestructionRegisterDoc, decision: 'APPROVE' | 'REJECT' = 'APPROVE', comment?: string) =>
  signDestruction(fx.svc, who(person), idOf(register), decision, comment);

describe('destruction', () => {
  beforeAll(() => {
    fx.now = DEC_1;
  });

  it('computes the years served from the first day of retention', () => {
    expect(yearsServed('2013-01-01', '2026-12-01')).toBe(13);
    expect(yearsServed('2013-01-01', '2022-12-31')).toBe(10);
    expect(yearsServed('2013-01-01', '2022-12-30')).toBe(9);
    expect(yearsServed('2027-01-01', '2026-12-01')).toBe(0);
  });

  it('refuses unexpired, on-hold, borrowed, permanent, unappraised and destroyed records, naming each, and creates nothing', async () => {
    fx.now = DEC_1;
    const ok = await expired('TAX_RETURN', 2012, 'VAT 2012');
    const unexpired = await fx.file('BANK_STATEMENT', 2016, 'Statement 2016'); // kept until 2026-12-31
    const onHold = await expired('TAX_RETURN', 2013, 'VAT 2013');
    await placeHold(fx.svc, who('accountant'), idOf(onHold), 'receivable from Acme Ltd unsettled');
    const borrowed = await expired('BANK_RECONCILIATION', 2013, 'Reconciliation 2013');
    const loan = await requestLoan(fx.svc, who('accountant'), { recordId: idOf(borrowed), purpose: 'tax audit', from: '2026-12-01', until: '2026-12-20' });
    await decideLoan(fx.svc, who('archivist2'), idOf(loan), 'APPROVE');
    await startLoan(fx.svc, who('archivist2'), idOf(loan));
    const permanent = await fx.file('ANNUAL_REPORT', 2013, 'Annual report 2013');
    const unappraised = await fx.file('TAX_RETURN', 2011, 'VAT 2011');
    const destroyed = await fx.file('TAX_RETURN', 2010, 'VAT 2010');
    await fx.svc.models.ArchiveRecord.updateOne({ _id: destroyed._id }, { $set: { status: 'DESTROYED', content: null, destroyedAt: new Date() } });

    const registers = await registerModel(fx.connection).countDocuments();
    const err = await rejection(() => propose([ok, unexpired, onHold, borrowed, permanent, unappraised, destroyed]));
    expect(err.extensions?.code).toBe('CONFLICT');
    expect(err.extensions?.refused?.map((r) => [r.archiveNo, r.reasons])).toEqual([
      [unexpired.archiveNo, ['not expired: kept until 2026-12-31']],
      [onHold.archiveNo, ['on hold (receivable from Acme Ltd unsettled)']],
      [borrowed.archiveNo, ['on loan']],
      [permanent.archiveNo, ['kept permanently']],
      [unappraised.archiveNo, ['no appraisal opinion finds that it may be destroyed']],
      [destroyed.archiveNo, ['already destroyed']],
    ]);
    for (const r of [unexpired, onHold, borrowed, permanent, unappraised, destroyed]) expect(err.message).toContain(r.archiveNo);
    expect(err.message).not.toContain(ok.archiveNo);
    expect(await registerModel(fx.connection).countDocuments()).toBe(registers);
    expect(await fx.eventsOf('DESTRUCTION_REQUESTED')).toHaveLength(0);
  });

  it('checks the proposer, the second handler and the list', async () => {
    fx.now = DEC_1;
    const r = await expired('TAX_RETURN', 2009, 'VAT 2009');
    const base = { recordIds: [idOf(r)], reason: 'expired' };
    expect(await codeOf(() => proposeDestruction(fx.svc, who('accountant'), { ...base, secondHandlerId: PEOPLE.clerk.id }))).toBe('FORBIDDEN');
    expect(await codeOf(() => proposeDestruction(fx.svc, who('archivist1'), { ...base, secondHandlerId: PEOPLE.archivist1.id }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => proposeDestruction(fx.svc, who('archivist1'), { ...base, secondHandlerId: '0123456789abcdef01234567' }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => proposeDestruction(fx.svc, who('archivist1'), { ...base, secondHandlerId: PEOPLE.unitHead.id }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => proposeDestruction(fx.svc, who('archivist1'), { ...base, secondHandlerId: PEOPLE.finHead.id }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => proposeDestruction(fx.svc, who('archivist1'), { ...base, reason: ' ', secondHandlerId: PEOPLE.clerk.id }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => proposeDestruction(fx.svc, who('archivist1'), { recordIds: [], reason: 'x', secondHandlerId: PEOPLE.clerk.id }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => proposeDestruction(fx.svc, who('archivist1'), { recordIds: [idOf(r), idOf(r)], reason: 'x', secondHandlerId: PEOPLE.clerk.id }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => proposeDestruction(fx.svc, who('archivist1'), { recordIds: ['0123456789abcdef01234567'], reason: 'x', secondHandlerId: PEOPLE.clerk.id }))).toBe('BAD_USER_INPUT');
  });

  it('lists each record with the fields of a destruction register and routes it to every signatory', async () => {
    fx.now = DEC_1;
    const a = await expired('TAX_RETURN', 2012, 'CIT return 2012');
    const register = await propose([a]);
    expect(register).toMatchObject({ status: 'PENDING', electronic: true, proposedBy: PEOPLE.archivist1.id, handlerIds: [PEOPLE.archivist1.id, PEOPLE.clerk.id], signatures: [] });
    expect(register.registerNo).toMatch(/^XH-2026-\d{4}$/);
    expect(register.lines).toEqual([
      {
        recordId: idOf(a),
        title: 'CIT return 2012',
        volumeNo: a.archiveNo.split('-').at(-1),
        count: 1,
        fiscalYear: 2012,
        archiveNo: a.archiveNo,
        kind: 'TAX_RETURN',
        retention: 'Y10',
        retentionYears: 10,
        retentionStartsOn: '2013-01-01',
        expiresOn: '2022-12-31',
        extendedUntil: null,
        yearsServed: 13,
        destroyedAt: null,
      },
    ]);
    const pending = await pendingSignatories(fx.svc, register);
    expect(pending).toEqual([
      { capacity: 'HANDLER', employeeIds: [PEOPLE.archivist1.id, PEOPLE.clerk.id] },
      { capacity: 'UNIT_HEAD', employeeIds: [PEOPLE.unitHead.id] },
      // The proposing archivist handles; another archivist signs for the archive department.
      { capacity: 'ARCHIVE_HEAD', employeeIds: [PEOPLE.archivist2.id] },
      { capacity: 'ACCOUNTING_HEAD', employeeIds: [PEOPLE.finHead.id] },
      { capacity: 'IT_SUPERVISOR', employeeIds: [PEOPLE.itHead.id] },
    ]);
    expect((await fx.eventsOf('DESTRUCTION_REQUESTED')).at(-1)).toMatchObject({ subject: { type: 'DestructionRegister', id: idOf(register) }, payload: { archiveNos: [a.archiveNo] } });
    expect(await codeOf(() => propose([a]))).toBe('CONFLICT'); // already listed
    expect((await registersAwaiting(fx.svc, who('itHead'))).map(idOf)).toContain(idOf(register));
    expect((await registersAwaiting(fx.svc, who('clerk'))).map(idOf)).toContain(idOf(register));
    expect(await getRegister(fx.svc, who('itHead'), idOf(register))).not.toBeNull();
    expect(await getRegister(fx.svc, who('alice'), idOf(register))).toBeNull();
    await cancelDestruction(fx.svc, who('archivist2'), idOf(register), 'wrong batch');
  });

  it('needs every signature; the last destroys: content removed, metadata, register and fixity chain kept', async () => {
    fx.now = DEC_1;
    const a = await expired('TAX_RETURN', 2014, 'VAT 2014');
    const b = await expired('BANK_STATEMENT', 2014, 'Statement 2014');
    const keep = await fx.file('BANK_STATEMENT', 2015, 'Statement 2015'); // not listed
    const register = await propose([a, b]);

    expect(await codeOf(() => sign('alice', register))).toBe('FORBIDDEN');
    expect(await codeOf(() => sign('salesHead', register))).toBe('FORBIDDEN');
    for (const person of SIGNERS.slice(0, -1)) {
      const after = await sign(person, register, 'APPROVE', `signed by ${person}`);
      expect(after.status).toBe('PENDING');
      // Nothing happens to the records before the last signature.
      expect((await recordOf(a)).status).toBe('FILED');
      expect((await recordOf(b)).content).not.toBeNull();
    }
    expect(await codeOf(() => sign('archivist1', register))).toBe('CONFLICT'); // signs once
    const signed = (await registerModel(fx.connection).findById(register._id).lean())!;
    expect(signed.signatures.map((s) => [s.capacity, s.employeeId])).toEqual([
      ['HANDLER', PEOPLE.archivist1.id],
      ['HANDLER', PEOPLE.clerk.id],
      ['UNIT_HEAD', PEOPLE.unitHead.id],
      ['ARCHIVE_HEAD', PEOPLE.archivist2.id],
      ['ACCOUNTING_HEAD', PEOPLE.finHead.id],
    ]);
    expect(await pendingSignatories(fx.svc, signed)).toEqual([{ capacity: 'IT_SUPERVISOR', employeeIds: [PEOPLE.itHead.id] }]);

    fx.now = new Date('2026-12-02T03:00:00Z');
    const done = await sign('itHead', register);
    expect(done).toMatchObject({ status: 'DESTROYED', destroyedAt: fx.now, closedBy: PEOPLE.itHead.id });
    expect(done.lines.map((l) => [l.archiveNo, l.destroyedAt, l.yearsServed])).toEqual([
      [a.archiveNo, fx.now, 11],
      [b.archiveNo, fx.now, 11],
    ]);
    expect(done.signatures.at(-1)).toMatchObject({ capacity: 'IT_SUPERVISOR', employeeId: PEOPLE.itHead.id, decision: 'APPROVE' });

    for (const original of [a, b]) {
      const now = await recordOf(original);
      expect(now).toMatchObject({ status: 'DESTROYED', content: null, destroyedAt: fx.now });
      // Metadata and fixity stay as filed.
      for (const field of ['archiveNo', 'title', 'kind', 'fiscalYear', 'retention', 'retentionStartsOn', 'expiresOn', 'contentDigest', 'chainSeq', 'fixity'] as const) {
        expect(now[field]).toEqual(original[field]);
      }
      expect(await codeOf(() => readContent(fx.svc, who('auditor'), idOf(original), 'after destruction'))).toBe('CONFLICT');
    }
    expect((await recordOf(keep)).content).not.toBeNull();
    expect(await fx.verifyChain()).toMatchObject({ ok: true, firstBrokenArchiveNo: null });

    const log = await new AccessLog(fx.connection).model.find({ action: 'DESTROYED' }).sort({ seq: 1 }).lean<AccessLogEntryDoc[]>();
    expect(log.map((e) => [e.archiveNo, e.actorId, e.purpose])).toEqual([
      [a.archiveNo, PEOPLE.itHead.id, `销毁清册 ${register.registerNo}: Expired, appraised, no open matters`],
      [b.archiveNo, PEOPLE.itHead.id, `销毁清册 ${register.registerNo}: Expired, appraised, no open matters`],
    ]);
    expect((await verifyAccessLog(fx.svc, who('auditor'))).ok).toBe(true);
    const destroyedEvents = (await fx.eventsOf('RECORDS_DESTROYED')).filter((e) => e.subject.id === idOf(register));
    expect(destroyedEvents).toHaveLength(1);
    expect(destroyedEvents[0].payload).toMatchObject({ registerNo: register.registerNo, recordIds: [idOf(a), idOf(b)] });
    expect((await fx.svc.events.forSubject({ type: 'DestructionRegister', id: idOf(register) })).filter((e) => e.type === 'DESTRUCTION_SIGNED')).toHaveLength(6);
    expect((await dueForAppraisal(fx.svc, who('auditor'), '2026-12-31')).map(idOf)).not.toContain(idOf(a));
    expect(await codeOf(() => sign('salesHead', register))).toBe('CONFLICT');

    // The last signer was not an archivist: the archive files the register itself, a permanent record.
    expect(done.registerRecordId).toMatch(/^[0-9a-f]{24}$/);
    expect(await codeOf(() => fileDestructionRegister(fx.svc, who('auditor'), idOf(register)))).toBe('FORBIDDEN');
    const filed = await fileDestructionRegister(fx.svc, who('archivist2'), idOf(register));
    expect(filed.registerRecordId).toBe(done.registerRecordId);
    const registerRecord = (await fx.svc.models.ArchiveRecord.findById(filed.registerRecordId).lean())!;
    expect(registerRecord.filedBy).toBe('archive-system');
    expect(registerRecord).toMatchObject({ kind: 'DESTRUCTION_REGISTER', retention: 'PERMANENT', status: 'FILED' });
    const content = JSON.parse(registerRecord.content!);
    expect(content.registerNo).toBe(register.registerNo);
    expect(content.lines.map((l: { archiveNo: string }) => l.archiveNo)).toEqual([a.archiveNo, b.archiveNo]);
    expect(content.signatures).toHaveLength(6);
    expect((await fx.verifyChain()).ok).toBe(true);
  });

  it('deletes the archive’s copies of the destroyed records’ originals, but a copy another record still holds', async () => {
    fx.now = DEC_1;
    const a = await expired('TAX_RETURN', 2009, 'VAT 2009 with a scan');
    const b = await expired('BANK_STATEMENT', 2009, 'Statement 2009 with a scan');
    const other = await fx.file('BANK_STATEMENT', 2016, 'Statement 2016 with the same scan');
    // Copies as filing makes them (originals/store.ts): one shared by a and other (same bytes), one of b's own.
    const files = new ArchiveFiles(fx.connection);
    const put = async (name: string, bytes: Buffer) => {
      const upload = files.bucket.openUploadStream(name, { chunkSizeBytes: 1024, metadata: { sha256: 'x', mediaType: 'application/pdf', copiedAt: fx.now, verified: true } });
      await pipeline(Readable.from([bytes]), upload);
      return (upload.id as { toHexString(): string }).toHexString();
    };
    const shared = await put('shared.pdf', Buffer.alloc(5000, 1));
    const own = await put('own.pdf', Buffer.alloc(3000, 2));
    const entry = (fileId: string, name: string) => ({ fileId, name, mediaType: 'application/pdf', size: 1, sha256: 'x', sourceAttachmentId: fileId });
    await fx.svc.models.ArchiveRecord.updateOne({ _id: a._id }, { $set: { files: [entry(shared, 'shared.pdf')] } });
    await fx.svc.models.ArchiveRecord.updateOne({ _id: other._id }, { $set: { files: [entry(shared, 'shared.pdf')] } });
    await fx.svc.models.ArchiveRecord.updateOne({ _id: b._id }, { $set: { files: [entry(own, 'own.pdf'), entry(shared, 'shared.pdf')] } });
    const chunksOf = (id: string) => files.chunks.countDocuments({ files_id: new ObjectId(id) });
    expect([await chunksOf(shared), await chunksOf(own)]).toEqual([5, 3]);

    const register = await propose([a, b]);
    for (const person of SIGNERS) await sign(person, register);

    expect((await recordOf(a)).status).toBe('DESTROYED');
    // b's own copy is gone, files document and chunks; the shared one stays for the record still filed.
    expect(await files.byId(own)).toBeNull();
    expect(await chunksOf(own)).toBe(0);
    expect(await files.byId(shared)).not.toBeNull();
    expect(await chunksOf(shared)).toBe(5);
    // The manifests stay in the destroyed records (their fixity covers them).
    expect((await recordOf(b)).files?.map((f) => f.fileId)).toEqual([own, shared]);
  });

  it('aborts the whole destruction when a hold was placed after the proposal', async () => {
    fx.now = DEC_1;
    const x = await expired('TAX_RETURN', 2015, 'VAT 2015');
    const y = await expired('BANK_STATEMENT', 2013, 'Statement 2013');
    const register = await propose([x, y]);
    for (const person of SIGNERS.filter((p) => p !== 'clerk')) await sign(person, register);
    await placeHold(fx.svc, who('accountant'), idOf(y), '未了事项: supplier claim pending');

    const err = await rejection(() => sign('clerk', register, 'APPROVE'));
    expect(err.extensions?.code).toBe('CONFLICT');
    expect(err.message).toContain(y.archiveNo);
    expect(err.extensions?.refused).toEqual([{ recordId: idOf(y), archiveNo: y.archiveNo, reasons: ['on hold (未了事项: supplier claim pending)'] }]);
    // Nothing destroyed, not even the record without a hold; the last signature is not recorded either.
    expect(await recordOf(x)).toMatchObject({ status: 'FILED', destroyedAt: null });
    expect((await recordOf(x)).content).not.toBeNull();
    const still = (await registerModel(fx.connection).findById(register._id).lean())!;
    expect(still.status).toBe('PENDING');
    expect(still.signatures.map((s) => s.employeeId)).not.toContain(PEOPLE.clerk.id);
    expect(await new AccessLog(fx.connection).model.countDocuments({ action: 'DESTROYED', recordId: { $in: [idOf(x), idOf(y)] } })).toBe(0);
    // The aborted transaction left no event either: five signatures, no destruction.
    const events = (await fx.svc.events.forSubject({ type: 'DestructionRegister', id: idOf(register) })).map((e) => e.type);
    expect(events).toEqual(['DESTRUCTION_REQUESTED', ...Array(5).fill('DESTRUCTION_SIGNED')]);

    // Once the matter closes, the last signature carries it out.
    await releaseHold(fx.svc, who('accountant'), idOf(y), 0);
    const done = await sign('clerk', register);
    expect(done.status).toBe('DESTROYED');
    expect((await recordOf(y)).status).toBe('DESTROYED');
  });

  it('a record handed out on loan after the proposal aborts it too; a withdrawn register frees its records', async () => {
    fx.now = DEC_1;
    const r = await expired('BANK_RECONCILIATION', 2014, 'Reconciliation 2014');
    const register = await propose([r]);
    for (const person of SIGNERS.slice(0, -1)) await sign(person, register);
    const loan = await requestLoan(fx.svc, who('finDirector'), { recordId: idOf(r), purpose: 'last look', from: '2026-12-01', until: '2026-12-02' });
    await decideLoan(fx.svc, who('archivist2'), idOf(loan), 'APPROVE');
    await startLoan(fx.svc, who('archivist2'), idOf(loan));
    const err = await rejection(() => sign('itHead', register));
    expect(err.extensions?.refused?.[0].reasons).toEqual(['on loan']);
    expect(await codeOf(() => cancelDestruction(fx.svc, who('clerk'), idOf(register), 'x'))).toBe('FORBIDDEN');
    const cancelled = await cancelDestruction(fx.svc, who('archivist2'), idOf(register), 'record lent out');
    expect(cancelled).toMatchObject({ status: 'CANCELLED', closedReason: 'record lent out' });
    expect(await codeOf(() => sign('itHead', register))).toBe('CONFLICT');
    expect((await fx.eventsOf('DESTRUCTION_CANCELLED')).map((e) => e.subject.id)).toContain(idOf(register));
  });

  it('a refusal by any signatory closes the register as REJECTED and destroys nothing', async () => {
    fx.now = DEC_1;
    const r = await expired('TAX_RETURN', 2008, 'VAT 2008');
    const first = await propose([r]);
    await sign('archivist1', first);
    const rejected = await sign('finHead', first, 'REJECT', 'tax bureau asked us to keep 2008');
    expect(rejected).toMatchObject({ status: 'REJECTED', closedBy: PEOPLE.finHead.id, closedReason: 'tax bureau asked us to keep 2008' });
    expect(await codeOf(() => sign('unitHead', first))).toBe('CONFLICT');

    const second = await propose([r]); // the rejected register no longer holds the record
    const byHandler = await sign('clerk', second, 'REJECT', 'list incomplete');
    expect(byHandler.status).toBe('REJECTED');
    expect(await codeOf(() => sign('unitHead', second))).toBe('CONFLICT');
    expect((await recordOf(r)).status).toBe('FILED');
    expect((await fx.eventsOf('DESTRUCTION_REJECTED')).map((e) => e.subject.id)).toEqual([idOf(first), idOf(second)]);
  });

  it('files the register at once when an archivist gives the last signature', async () => {
    fx.now = DEC_1;
    const r = await expired('TAX_RETURN', 2007, 'VAT 2007');
    const register = await propose([r]);
    for (const person of SIGNERS.filter((p) => p !== 'archivist2')) await sign(person, register);
    const done = await sign('archivist2', register);
    expect(done.status).toBe('DESTROYED');
    expect(done.registerRecordId).toMatch(/^[0-9a-f]{24}$/);
    expect(done.filingError).toBeNull();
  });

  it('takes a delegate’s signature for the assignee it stands in for', async () => {
    fx.now = DEC_1;
    const r = await expired('TAX_RETURN', 2006, 'VAT 2006');
    const register = await propose([r]);
    await fx.svc.workflow.delegate(PEOPLE.unitHead.id, PEOPLE.salesHead.id, new Date('2026-11-30T00:00:00Z'), new Date('2026-12-10T00:00:00Z'));
    const signed = await sign('salesHead', register);
    expect(signed.signatures).toEqual([
      expect.objectContaining({ capacity: 'UNIT_HEAD', employeeId: PEOPLE.salesHead.id, onBehalfOf: PEOPLE.unitHead.id, decision: 'APPROVE' }),
    ]);
    expect(await codeOf(() => sign('unitHead', register))).toBe('FORBIDDEN'); // the step is decided
    await cancelDestruction(fx.svc, who('archivist1'), idOf(register), 'test done');
  });

  it('lists registers for the reading roles only', async () => {
    const page = await listRegisters(fx.svc, who('auditor'), { first: 2 });
    expect(page.edges).toHaveLength(2);
    expect(page.totalCount).toBeGreaterThanOrEqual(6);
    const next = await listRegisters(fx.svc, who('auditor'), { first: 100, after: page.pageInfo.endCursor });
    expect(next.edges.length).toBe(page.totalCount - 2);
    expect((await listRegisters(fx.svc, who('finDirector'), { status: 'DESTROYED', first: 100 })).edges.every((e) => e.node.status === 'DESTROYED')).toBe(true);
    expect(await codeOf(() => listRegisters(fx.svc, who('alice'), { first: 10 }))).toBe('FORBIDDEN');
  });

  it('defines the route without the IT step when no IT manager is known', () => {
    const keys = (itManager: string | null) => destructionRoute('u', itManager).stages[0].steps.map((s) => s.key);
    expect(keys('it')).toEqual(['unit-head', 'archive-head', 'accounting-head', 'it-supervisor']);
    expect(keys(null)).toEqual(['unit-head', 'archive-head', 'accounting-head']);
  });
});
