// verifyArchiveChain against tampering in the database: content removed, a destruction without its register, a
// status edited, records removed (the newest, one in the middle), content edited, a record edited with the records'
// chain recomputed from it to the end; and an archive written by the release before record histories still verifies.
import type { Connection } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { fixityDigest, sha256 } from '../../subgraphs/archive/fixity.ts';
import type { ArchiveRecordDoc } from '../../subgraphs/archive/models.ts';
import { ok } from '../oa/fixture.ts';
import { archivist, auditor, useArchiveSubgraph } from './fixture.ts';
import { fileOldRecords } from './tamper.ts';

const VERIFY = '{ verifyArchiveChain { ok checked firstBrokenArchiveNo problem } }';
type Verification = { ok: boolean; checked: number; firstBrokenArchiveNo: string | null; problem: string | null };

describe('verifyArchiveChain against tampering', () => {
  const archive = useArchiveSubgraph('archive_chain_integrity');
  const verify = async () => ok(await archive.gql<{ verifyArchiveChain: Verification }>(auditor, VERIFY)).verifyArchiveChain;
  const raw = () => archive.connection.db!.collection<ArchiveRecordDoc>('archive_records');
  const inOrder = () => raw().find({}, { sort: { chainSeq: 1 } }).toArray();

  /** Tampers, expects the break named, puts everything back as it was and expects the chain whole again. */
  async function caught(tamper: (records: ArchiveRecordDoc[]) => Promise<unknown>, expected: Pick<Verification, 'firstBrokenArchiveNo' | 'problem'>) {
    const before = await inOrder();
    await tamper(before);
    expect(await verify()).toMatchObject({ ok: false, ...expected });
    await raw().deleteMany({});
    await raw().insertMany(before);
    expect(await verify()).toMatchObject({ ok: true, checked: before.length });
  }

  it('names the first record affected by each tampering', async () => {
    const FILE = `mutation($i: FileRecordInput!) { fileArchiveRecord(input: $i) { id archiveNo } }`;
    const filed: Array<{ id: string; archiveNo: string }> = [];
    for (let i = 0; i < 5; i++) {
      const input = { kind: 'TAX_RETURN', title: `VAT return ${i}`, fiscalYear: 2025, content: `{"n":${i}}`, mediaType: 'application/json' };
      filed.push(ok(await archive.gql<{ fileArchiveRecord: { id: string; archiveNo: string } }>(archivist(), FILE, { i: input })).fileArchiveRecord);
    }
    // Lifecycle changes through the API are entries of the history: the archive still verifies.
    ok(await archive.gql(archivist(), `mutation($id: ID!) { placeHold(recordId: $id, reason: "unsettled debt") { status } }`, { id: filed[1].id }));
    ok(await archive.gql(archivist(), `mutation($id: ID!) { placeHold(recordId: $id, reason: "audit") { status } }`, { id: filed[3].id }));
    ok(await archive.gql(archivist(), `mutation($id: ID!) { releaseHold(recordId: $id, index: 0) { status } }`, { id: filed[3].id }));
    expect(await verify()).toEqual({ ok: true, checked: 5, firstBrokenArchiveNo: null, problem: null });
    const [, second, third, fourth, fifth] = filed;

    const set = (archiveNo: string, $set: Partial<ArchiveRecordDoc>) => raw().updateOne({ archiveNo }, { $set });
    await caught(() => set(third.archiveNo, { content: null }), { firstBrokenArchiveNo: third.archiveNo, problem: 'CONTENT_MISSING' });
    await caught(() => set(third.archiveNo, { content: null, status: 'DESTROYED', destroyedAt: new Date() }), { firstBrokenArchiveNo: third.archiveNo, problem: 'DESTROYED_WITHOUT_REGISTER' });
    await caught(() => set(second.archiveNo, { status: 'FILED', holds: [] }), { firstBrokenArchiveNo: second.archiveNo, problem: 'LIFECYCLE_CHANGED' });
    await caught(() => set(fourth.archiveNo, { extendedUntil: '2099-12-31' }), { firstBrokenArchiveNo: fourth.archiveNo, problem: 'LIFECYCLE_CHANGED' });
    await caught(() => set(fourth.archiveNo, { expiresOn: '2026-01-01' }), { firstBrokenArchiveNo: fourth.archiveNo, problem: 'LIFECYCLE_CHANGED' });
    await caught(() => raw().deleteOne({ archiveNo: fifth.archiveNo }), { firstBrokenArchiveNo: fifth.archiveNo, problem: 'REMOVED' });
    await caught(() => raw().deleteOne({ archiveNo: third.archiveNo }), { firstBrokenArchiveNo: third.archiveNo, problem: 'REMOVED' });
    await caught(() => set(third.archiveNo, { content: '{"n":999}' }), { firstBrokenArchiveNo: third.archiveNo, problem: 'CHANGED' });
    // Edited with its content digest, and the records' chain recomputed from it to the end: its history still names
    // the digest it was filed with.
    await caught(
      async (records) => {
        let previousDigest = records[1].fixity.digest;
        for (const r of records.slice(2)) {
          const content = r.archiveNo === third.archiveNo ? '{"n":999}' : r.content!;
          const edited = { ...r, content, contentDigest: sha256(content) };
          const digest = fixityDigest(edited, previousDigest);
          await raw().updateOne({ _id: r._id }, { $set: { content, contentDigest: edited.contentDigest, fixity: { algorithm: 'SHA-256', digest, previousDigest } } });
          previousDigest = digest;
        }
      },
      { firstBrokenArchiveNo: third.archiveNo, problem: 'CHANGED' },
    );
    // The history itself edited: its chain breaks at the entry changed.
    const history = archive.connection.db!.collection('archive_record_history');
    const entry = await history.findOne({ archiveNo: second.archiveNo, action: 'HOLD_PLACED' });
    await history.updateOne({ _id: entry!._id }, { $set: { 'state.status': 'FILED', 'state.holds': [] } });
    await set(second.archiveNo, { status: 'FILED', holds: [] });
    expect(await verify()).toMatchObject({ ok: false, firstBrokenArchiveNo: second.archiveNo, problem: 'CHANGED' });
  });
});

/** Records, a hold and a destruction as the release before record histories wrote them: no history at all. */
async function writtenTheOldWay(connection: Connection, fakeDestruction: boolean): Promise<void> {
  const filed = await fileOldRecords(connection);
  const records = connection.db!.collection('archive_records');
  await records.updateOne({ _id: filed[1]._id }, { $set: { status: 'ON_HOLD', holds: [{ reason: 'unsettled', placedBy: 'archivist-1', placedAt: new Date('2020-01-01T00:00:00Z') }] } });
  await records.updateOne({ _id: filed[2]._id }, { $set: { status: 'DESTROYED', content: null, destroyedAt: new Date('2026-02-01T00:00:00Z') } });
  if (!fakeDestruction) {
    await connection.db!.collection('archive_destruction_registers').insertOne({
      registerNo: 'XH-2026-0001', reason: 'expired', status: 'DESTROYED', electronic: true, lines: [{ recordId: filed[2]._id.toHexString(), archiveNo: filed[2].archiveNo }],
    });
  }
}

describe('an archive written before record histories', () => {
  const archive = useArchiveSubgraph('archive_chain_legacy', (c) => writtenTheOldWay(c, false));
  const forged = useArchiveSubgraph('archive_chain_legacy_forged', (c) => writtenTheOldWay(c, true));

  it('is adopted as found at start-up and verifies as before; a destruction without a register does not', async () => {
    const legacy = ok(await archive.gql<{ verifyArchiveChain: Verification }>(auditor, VERIFY)).verifyArchiveChain;
    expect(legacy).toEqual({ ok: true, checked: 4, firstBrokenArchiveNo: null, problem: null });
    // Adopted once: what is changed afterwards is found.
    await archive.connection.db!.collection('archive_records').updateOne({ archiveNo: 'Q001-2015-10Y-QT-00002' }, { $set: { status: 'FILED', holds: [] } });
    expect(ok(await archive.gql<{ verifyArchiveChain: Verification }>(auditor, VERIFY)).verifyArchiveChain).toMatchObject({ ok: false, firstBrokenArchiveNo: 'Q001-2015-10Y-QT-00002', problem: 'LIFECYCLE_CHANGED' });
    const fake = ok(await forged.gql<{ verifyArchiveChain: Verification }>(auditor, VERIFY)).verifyArchiveChain;
    expect(fake).toMatchObject({ ok: false, firstBrokenArchiveNo: 'Q001-2015-10Y-QT-00003', problem: 'DESTROYED_WITHOUT_REGISTER' });
  });
});
