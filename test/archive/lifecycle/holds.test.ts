// Holds: records of unsettled debts and unresolved matters are kept apart (ON_HOLD) while any hold exists.
import { describe, expect, it } from 'vitest';
import { placeHold, releaseHold } from '../../../subgraphs/archive/lifecycle/holds.ts';
import { PEOPLE, codeOf, idOf, useLifecycle, who } from './fixture.ts';

const fx = useLifecycle('holds');

describe('holds', () => {
  it('keeps a record ON_HOLD while any hold exists, and FILED again when the last is released', async () => {
    const record = await fx.file('SUBSIDIARY_LEDGER', 2015, 'AP ledger 2015');
    fx.now = new Date('2026-12-01T02:00:00Z');
    const one = await placeHold(fx.svc, who('accountant'), idOf(record), '  未结清的债权债务: payable to Acme Ltd  ');
    expect(one.status).toBe('ON_HOLD');
    expect(one).not.toHaveProperty('content');
    expect(one.holds).toEqual([{ reason: '未结清的债权债务: payable to Acme Ltd', placedBy: PEOPLE.accountant.id, placedAt: new Date('2026-12-01T02:00:00Z') }]);
    const two = await placeHold(fx.svc, who('archivist1'), idOf(record), '未了事项: lawsuit 2024-17');
    expect(two.holds.map((h) => h.reason)).toEqual(['未结清的债权债务: payable to Acme Ltd', '未了事项: lawsuit 2024-17']);

    const afterFirst = await releaseHold(fx.svc, who('archivist1'), idOf(record), 0);
    expect(afterFirst.status).toBe('ON_HOLD');
    expect(afterFirst.holds.map((h) => h.reason)).toEqual(['未了事项: lawsuit 2024-17']);
    const afterLast = await releaseHold(fx.svc, who('accountant'), idOf(record), 0);
    expect(afterLast).toMatchObject({ status: 'FILED', holds: [] });

    const events = await fx.svc.events.forSubject({ type: 'ArchiveRecord', id: idOf(record) });
    expect(events.filter((e) => e.type.startsWith('RECORD_HOLD')).map((e) => [e.type, e.payload.reason, e.payload.status])).toEqual([
      ['RECORD_HOLD_PLACED', '未结清的债权债务: payable to Acme Ltd', 'ON_HOLD'],
      ['RECORD_HOLD_PLACED', '未了事项: lawsuit 2024-17', 'ON_HOLD'],
      ['RECORD_HOLD_RELEASED', '未结清的债权债务: payable to Acme Ltd', 'ON_HOLD'],
      ['RECORD_HOLD_RELEASED', '未了事项: lawsuit 2024-17', 'FILED'],
    ]);
    // Holds are lifecycle fields: the fixity chain is untouched.
    expect((await fx.verifyChain()).ok).toBe(true);
  });

  it('is for ARCHIVIST and ACCOUNTANT, needs a reason and an existing hold, and not on destroyed records', async () => {
    const record = await fx.file('TAX_RETURN', 2016, 'CIT 2016');
    for (const person of ['alice', 'auditor', 'finDirector', 'salesHead'] as const) {
      expect(await codeOf(() => placeHold(fx.svc, who(person), idOf(record), 'x'))).toBe('FORBIDDEN');
    }
    expect(await codeOf(() => placeHold(fx.svc, who('archivist1'), idOf(record), ' '))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => placeHold(fx.svc, who('archivist1'), idOf(record), 'x'.repeat(501)))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => placeHold(fx.svc, who('archivist1'), '0123456789abcdef01234567', 'x'))).toBe('NOT_FOUND');
    expect(await codeOf(() => releaseHold(fx.svc, who('archivist1'), idOf(record), 0))).toBe('BAD_USER_INPUT');
    await placeHold(fx.svc, who('archivist1'), idOf(record), 'open tax audit');
    expect(await codeOf(() => releaseHold(fx.svc, who('archivist1'), idOf(record), 1))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => releaseHold(fx.svc, who('archivist1'), idOf(record), -1))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => releaseHold(fx.svc, who('auditor'), idOf(record), 0))).toBe('FORBIDDEN');

    const gone = await fx.file('TAX_RETURN', 2010, 'VAT 2010');
    await fx.svc.models.ArchiveRecord.updateOne({ _id: gone._id }, { $set: { status: 'DESTROYED', content: null, destroyedAt: new Date() } });
    expect(await codeOf(() => placeHold(fx.svc, who('archivist1'), idOf(gone), 'too late'))).toBe('CONFLICT');
  });

  it('applies concurrent holds on one record without losing any', async () => {
    const record = await fx.file('BANK_STATEMENT', 2017, 'Statement 2017');
    await Promise.all(Array.from({ length: 5 }, (_, i) => placeHold(fx.svc, who(i % 2 ? 'accountant' : 'archivist2'), idOf(record), `matter ${i}`)));
    const stored = await fx.svc.models.ArchiveRecord.findById(record._id).lean();
    expect(stored!.holds.map((h) => h.reason).sort()).toEqual(['matter 0', 'matter 1', 'matter 2', 'matter 3', 'matter 4']);
    expect(stored!.status).toBe('ON_HOLD');
  });
});
