// The access log: every content read is an entry chained to the previous one; verify() names an entry changed or
// removed directly in the database; content is only read through readContent, by the roles that may.
import { describe, expect, it } from 'vitest';
import { AccessLog, type AccessLogEntryDoc, entryDigest, listAccessLog, verifyAccessLog } from '../../../subgraphs/archive/lifecycle/access-log.ts';
import { readContent } from '../../../subgraphs/archive/lifecycle/content.ts';
import type { ArchiveRecordDoc } from '../../../subgraphs/archive/models.ts';
import { codeOf, idOf, useLifecycle, who } from './fixture.ts';

const fx = useLifecycle('access_log');

const entries = () => new AccessLog(fx.connection).model.find().sort({ seq: 1 }).lean<AccessLogEntryDoc[]>();
const raw = () => fx.connection.db!.collection('archive_access_log');

describe('access log', () => {
  let record: ArchiveRecordDoc;

  it('logs each read with who, what, when and why, chained by digest', async () => {
    record = await fx.file('BANK_STATEMENT', 2024, 'ICBC statement 2024-12');
    fx.now = new Date('2026-12-01T02:00:00Z');
    const read = await readContent(fx.svc, who('auditor'), idOf(record), '  annual audit 2026  ');
    expect(read.content).toBe(record.content);
    expect(read.mediaType).toBe('application/json');
    expect(read.record).not.toHaveProperty('content');
    for (const person of ['archivist1', 'accountant', 'finDirector'] as const) await readContent(fx.svc, who(person), idOf(record), `check by ${person}`);

    const log = await entries();
    expect(log.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(log[0]).toMatchObject({
      action: 'READ_CONTENT',
      actorId: who('auditor').sub,
      actorRoles: ['EMPLOYEE', 'AUDITOR'],
      recordId: idOf(record),
      archiveNo: record.archiveNo,
      purpose: 'annual audit 2026',
      loanId: null,
      previousDigest: null,
    });
    expect(log[0].at.toISOString()).toBe('2026-12-01T02:00:00.000Z');
    for (const [i, e] of log.entries()) {
      const { _id, digest, ...rest } = e;
      expect(digest).toMatch(/^[0-9a-f]{64}$/);
      expect(digest).toBe(entryDigest(rest));
      expect(e.previousDigest).toBe(i === 0 ? null : log[i - 1].digest);
    }
    expect(await verifyAccessLog(fx.svc, who('auditor'))).toEqual({ ok: true, checked: 4, firstBrokenSeq: null, problem: null });
  });

  it('refuses content to other roles, without a purpose, and for unknown records; refusals log nothing', async () => {
    const before = (await entries()).length;
    expect(await codeOf(() => readContent(fx.svc, who('alice'), idOf(record), 'curious'))).toBe('FORBIDDEN');
    expect(await codeOf(() => readContent(fx.svc, who('salesHead'), idOf(record), 'curious'))).toBe('FORBIDDEN');
    expect(await codeOf(() => readContent(fx.svc, who('auditor'), idOf(record), '   '))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => readContent(fx.svc, who('auditor'), idOf(record), 'x'.repeat(501)))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => readContent(fx.svc, who('auditor'), '0123456789abcdef01234567', 'audit'))).toBe('NOT_FOUND');
    expect(await codeOf(() => readContent(fx.svc, who('auditor'), 'not-an-id', 'audit'))).toBe('NOT_FOUND');
    await readContent(fx.svc, who('auditor'), idOf(record), 'x'.repeat(500));
    expect((await entries()).length).toBe(before + 1);
  });

  it('has no content to give for a destroyed record (CONFLICT)', async () => {
    const gone = await fx.file('TAX_RETURN', 2010, 'VAT 2010');
    // What destruction leaves (destruction.test.ts does it through the register).
    await fx.svc.models.ArchiveRecord.updateOne({ _id: gone._id }, { $set: { status: 'DESTROYED', content: null, destroyedAt: new Date() } });
    const err = await codeOf(() => readContent(fx.svc, who('auditor'), idOf(gone), 'audit'));
    expect(err).toBe('CONFLICT');
  });

  it('appends concurrent reads without gaps or forks', async () => {
    const before = (await entries()).length;
    await Promise.all(Array.from({ length: 8 }, (_, i) => readContent(fx.svc, who(i % 2 ? 'auditor' : 'archivist2'), idOf(record), `parallel ${i}`)));
    const log = await entries();
    expect(log.map((e) => e.seq)).toEqual(Array.from({ length: before + 8 }, (_, i) => i + 1));
    expect(await verifyAccessLog(fx.svc, who('archivist1'))).toMatchObject({ ok: true, checked: before + 8 });
  });

  it('lists entries oldest first, by record or actor, page by page, for AUDITOR and ARCHIVIST only', async () => {
    const all = await entries();
    const page1 = await listAccessLog(fx.svc, who('auditor'), { recordId: idOf(record), first: 3 });
    expect(page1.edges.map((e) => e.node.seq)).toEqual([1, 2, 3]);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    expect(page1.totalCount).toBe(all.filter((e) => e.recordId === idOf(record)).length);
    const page2 = await listAccessLog(fx.svc, who('archivist1'), { recordId: idOf(record), first: 3, after: page1.pageInfo.endCursor });
    expect(page2.edges.map((e) => e.node.seq)).toEqual([4, 5, 6]);
    const mine = await listAccessLog(fx.svc, who('auditor'), { actorId: who('accountant').sub, first: 10 });
    expect(mine.edges.map((e) => e.node.purpose)).toEqual(['check by accountant']);
    expect(await codeOf(() => listAccessLog(fx.svc, who('accountant'), { first: 10 }))).toBe('FORBIDDEN');
    expect(await codeOf(() => listAccessLog(fx.svc, who('auditor'), { first: 0 }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => listAccessLog(fx.svc, who('auditor'), { first: 5, after: 'bogus' }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => verifyAccessLog(fx.svc, who('finDirector')))).toBe('FORBIDDEN');
  });

  it('names an entry edited directly in the collection', async () => {
    const log = await entries();
    const victim = log[2];
    await raw().updateOne({ seq: victim.seq }, { $set: { purpose: 'nothing to see here' } });
    expect(await verifyAccessLog(fx.svc, who('auditor'))).toEqual({ ok: false, checked: 3, firstBrokenSeq: victim.seq, problem: 'CHANGED' });
    // A forger who also recomputes the edited entry's digest is caught by the next entry's link.
    const { _id, digest, ...rest } = (await raw().findOne({ seq: victim.seq })) as unknown as AccessLogEntryDoc;
    await raw().updateOne({ seq: victim.seq }, { $set: { digest: entryDigest(rest) } });
    expect(await verifyAccessLog(fx.svc, who('auditor'))).toMatchObject({ ok: false, firstBrokenSeq: victim.seq, problem: 'CHANGED' });
    await raw().updateOne({ seq: victim.seq }, { $set: { purpose: victim.purpose, digest: victim.digest } });
    expect((await verifyAccessLog(fx.svc, who('auditor'))).ok).toBe(true);
  });

  it('names an entry deleted from the middle, and one deleted from the end', async () => {
    const log = await entries();
    const middle = log[4];
    await raw().deleteOne({ seq: middle.seq });
    expect(await verifyAccessLog(fx.svc, who('auditor'))).toEqual({ ok: false, checked: 5, firstBrokenSeq: middle.seq, problem: 'REMOVED' });
    await raw().insertOne(middle as never);
    expect((await verifyAccessLog(fx.svc, who('auditor'))).ok).toBe(true);

    const last = log.at(-1)!;
    await raw().deleteOne({ seq: last.seq });
    expect(await verifyAccessLog(fx.svc, who('auditor'))).toEqual({ ok: false, checked: log.length - 1, firstBrokenSeq: last.seq, problem: 'REMOVED' });
    await raw().insertOne(last as never);
    expect(await verifyAccessLog(fx.svc, who('auditor'))).toEqual({ ok: true, checked: log.length, firstBrokenSeq: null, problem: null });
  });
});
