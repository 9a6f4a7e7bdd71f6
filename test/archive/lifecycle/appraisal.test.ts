// Appraisal: the list of records due (an aggregation in the database), extension of retention by an opinion,
// and the opinion kept permanently (stored, and filed as an APPRAISAL_OPINION record).
import { describe, expect, it } from 'vitest';
import { appraisalsOf, appraise, dueForAppraisal } from '../../../subgraphs/archive/lifecycle/appraisal.ts';
import { readContent } from '../../../subgraphs/archive/lifecycle/content.ts';
import type { ArchiveRecordDoc } from '../../../subgraphs/archive/models.ts';
import { PEOPLE, codeOf, idOf, useLifecycle, who } from './fixture.ts';

const fx = useLifecycle('appraisal');
const DEC_1 = new Date('2026-12-01T02:00:00Z');

describe('appraisal', () => {
  let vat2012: ArchiveRecordDoc; // Y10: expires 2022-12-31
  let stmt2015: ArchiveRecordDoc; // Y10: 2025-12-31
  let stmt2016: ArchiveRecordDoc; // Y10: 2026-12-31
  let annual2014: ArchiveRecordDoc; // permanent
  let ledger2020: ArchiveRecordDoc; // Y30: 2050-12-31
  let destroyed: ArchiveRecordDoc;

  it('lists records whose effective expiry is on or before the date, not destroyed, oldest first, in the database', async () => {
    fx.now = DEC_1;
    stmt2016 = await fx.file('BANK_STATEMENT', 2016, 'Statement 2016');
    vat2012 = await fx.file('TAX_RETURN', 2012, 'VAT 2012');
    annual2014 = await fx.file('ANNUAL_REPORT', 2014, 'Annual report 2014');
    stmt2015 = await fx.file('BANK_STATEMENT', 2015, 'Statement 2015');
    ledger2020 = await fx.file('GENERAL_LEDGER', 2020, 'General ledger 2020');
    destroyed = await fx.file('TAX_RETURN', 2011, 'VAT 2011');
    await fx.svc.models.ArchiveRecord.updateOne({ _id: destroyed._id }, { $set: { status: 'DESTROYED', content: null, destroyedAt: new Date() } });

    fx.commands.length = 0;
    const due = await dueForAppraisal(fx.svc, who('archivist1'), '2026-12-31');
    expect(due.map((r) => [r.archiveNo, r.effectiveExpiresOn])).toEqual([
      [vat2012.archiveNo, '2022-12-31'],
      [stmt2015.archiveNo, '2025-12-31'],
      [stmt2016.archiveNo, '2026-12-31'],
    ]);
    for (const r of due) expect(r).not.toHaveProperty('content');
    // One aggregate command, no documents loaded to filter in JavaScript.
    expect(fx.commands.map((c) => c.name)).toEqual(['aggregate']);
    expect(JSON.stringify(fx.commands[0].command.pipeline)).toContain('$ifNull');

    expect((await dueForAppraisal(fx.svc, who('auditor'), '2025-12-30')).map(idOf)).toEqual([idOf(vat2012)]);
    expect(await dueForAppraisal(fx.svc, who('auditor'), '2022-12-30')).toEqual([]);
    expect(await codeOf(() => dueForAppraisal(fx.svc, who('alice'), '2026-12-31'))).toBe('FORBIDDEN');
    expect(await codeOf(() => dueForAppraisal(fx.svc, who('auditor'), '2026-13-01'))).toBe('BAD_USER_INPUT');
    void annual2014;
    void ledger2020;
  });

  it('extends the retention of an expired record by an opinion, kept and filed permanently', async () => {
    fx.now = DEC_1;
    const appraisal = await appraise(fx.svc, who('archivist1'), idOf(vat2012), '  The 2012 VAT returns support an open tax dispute; keep until it is settled.  ', '2029-12-31');
    expect(appraisal).toMatchObject({
      recordId: idOf(vat2012),
      archiveNo: vat2012.archiveNo,
      opinion: 'The 2012 VAT returns support an open tax dispute; keep until it is settled.',
      conclusion: 'EXTEND',
      previousExpiresOn: '2022-12-31',
      extendedUntil: '2029-12-31',
      appraisedBy: PEOPLE.archivist1.id,
      appraisedAt: DEC_1,
      filingError: null,
    });
    const stored = (await fx.svc.models.ArchiveRecord.findById(vat2012._id).lean())!;
    expect(stored).toMatchObject({ extendedUntil: '2029-12-31', expiresOn: '2022-12-31', status: 'FILED' });
    const events = (await fx.svc.events.forSubject({ type: 'ArchiveRecord', id: idOf(vat2012) })).map((e) => [e.type, e.payload.extendedUntil]);
    expect(events).toContainEqual(['RETENTION_EXTENDED', '2029-12-31']);

    // The opinion is a permanent record of its own.
    const opinion = (await fx.svc.models.ArchiveRecord.findById(appraisal.opinionRecordId).lean())!;
    expect(opinion).toMatchObject({ kind: 'APPRAISAL_OPINION', retention: 'PERMANENT', expiresOn: null, category: 'QT' });
    const text = await readContent(fx.svc, who('auditor'), appraisal.opinionRecordId!, 'check the opinion');
    expect(JSON.parse(text.content)).toMatchObject({ opinion: appraisal.opinion, conclusion: 'EXTEND', extendedUntil: '2029-12-31', record: { archiveNo: vat2012.archiveNo } });
    expect((await appraisalsOf(fx.svc, who('auditor'), idOf(vat2012))).map((a) => a.opinion)).toEqual([appraisal.opinion]);

    // No longer due before the new date; due again after it.
    expect((await dueForAppraisal(fx.svc, who('archivist1'), '2026-12-31')).map(idOf)).toEqual([idOf(stmt2015), idOf(stmt2016)]);
    const later = await dueForAppraisal(fx.svc, who('archivist1'), '2030-01-01');
    expect(later.find((r) => idOf(r) === idOf(vat2012))?.effectiveExpiresOn).toBe('2029-12-31');
    // Extensions are lifecycle fields: the chain still verifies.
    expect((await fx.verifyChain()).ok).toBe(true);
  });

  it('checks who appraises what: ARCHIVIST, expired records, an extension later than the current end and today', async () => {
    fx.now = DEC_1;
    expect(await codeOf(() => appraise(fx.svc, who('accountant'), idOf(stmt2015), 'x'))).toBe('FORBIDDEN');
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(stmt2015), '  '))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(stmt2016), 'not yet'))).toBe('CONFLICT'); // kept until 2026-12-31
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(annual2014), 'forever'))).toBe('CONFLICT');
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(destroyed), 'gone'))).toBe('CONFLICT');
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(stmt2015), 'earlier', '2025-12-31'))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(stmt2015), 'past', '2026-06-30'))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(stmt2015), 'bad date', '2026-02-30'))).toBe('BAD_USER_INPUT');
    // Extended records: the new end counts, the extension must pass it.
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(vat2012), 'again', '2028-12-31'))).toBe('CONFLICT');
    fx.now = new Date('2030-01-02T02:00:00Z');
    expect(await codeOf(() => appraise(fx.svc, who('archivist1'), idOf(vat2012), 'again', '2029-12-31'))).toBe('BAD_USER_INPUT');
    const again = await appraise(fx.svc, who('archivist1'), idOf(vat2012), 'Dispute still open.', '2031-12-31');
    expect(again.previousExpiresOn).toBe('2029-12-31');
    expect((await appraisalsOf(fx.svc, who('archivist2'), idOf(vat2012))).map((a) => a.extendedUntil)).toEqual(['2029-12-31', '2031-12-31']);
  });

  it('records an opinion that the record may be destroyed, without changing its retention', async () => {
    fx.now = DEC_1;
    const a = await appraise(fx.svc, who('archivist2'), idOf(stmt2015), 'No further value: no open matters, audits closed.');
    expect(a).toMatchObject({ conclusion: 'DESTROY', extendedUntil: null, previousExpiresOn: '2025-12-31' });
    expect((await fx.svc.models.ArchiveRecord.findById(stmt2015._id).lean())!.extendedUntil).toBeNull();
    const events = (await fx.svc.events.forSubject({ type: 'ArchiveRecord', id: idOf(stmt2015) })).map((e) => e.type);
    expect(events).toContain('RECORD_APPRAISED');
    expect(events).not.toContain('RETENTION_EXTENDED');
    expect(a.opinionRecordId).toMatch(/^[0-9a-f]{24}$/);
  });
});
