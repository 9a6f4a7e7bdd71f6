// The year's handover (issue 19 §4) through the archive subgraph with gateway-signed calls, on the engine: a register of
// a fiscal year that has ended lists every record still with the accounting department; an ACCOUNTANT and an ARCHIVIST,
// two people, sign it; the second signature passes custody on each record and in the records' history, files the
// register as a TRANSFER_REGISTER record, appends HANDOVER_SIGNED, and the chain verifies; custody edited in the
// database afterwards is found by verification.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/identity.ts';
import { archivePorts } from '../../subgraphs/archive/ports.ts';
import { SYNC, approvedClaim, useArchiveSubgraph } from './fixture.ts';

const a = useArchiveSubgraph('handover');
const user = (sub: string, roles: string[]): Principal => ({ sub, roles: ['EMPLOYEE', ...roles] as Principal['roles'], departmentId: 'dept-finance', kind: 'user' });
const accountant = user('accountant-1', ['ACCOUNTANT']);
const archivist = user('archivist-1', ['ARCHIVIST']);
const both = user('both-1', ['ACCOUNTANT', 'ARCHIVIST']);

const REGISTER = 'id fiscalYear status recordCount handedOver excluded lines { totalCount edges { node { archiveNo retention digest outcome record { id custody } } } } signatures { side by } archiveNo archiveRecord { kind category retention custody }';
const PREPARE = `mutation($y: Int!) { prepareHandover(fiscalYear: $y) { ${REGISTER} } }`;
const SIGN = `mutation($id: ID!, $s: HandoverSide!) { signHandover(id: $id, side: $s) { ${REGISTER} } }`;
type Line = { archiveNo: string; outcome: string; record: { id: string; custody: string } };
type Register = { id: string; status: string; recordCount: number; handedOver: number; excluded: number; lines: { totalCount: number; edges: Array<{ node: Line }> }; signatures: Array<{ side: string; by: string }>; archiveNo: string | null; archiveRecord: { kind: string; category: string; retention: string; custody: string } | null };

let archiveNos: string[] = [];
beforeAll(async () => {
  const claims = Array.from({ length: 3 }, () => approvedClaim({ approvedAt: '2025-06-10T02:00:00Z', items: [{ description: 'Hotel', amount: '5500.50', occurredOn: '2025-06-01', invoiceNo: null }] }));
  const v = await a.gql<{ generateVouchers: Array<{ id: string }> }>(SYNC, 'mutation($c: [ApprovedClaimInput!]!) { generateVouchers(claims: $c) { id } }', { c: claims });
  expect(v.errors).toBeUndefined();
  const f = await a.gql<{ fileVouchers: Array<{ archiveNo: string }> }>(SYNC, 'mutation($v: [ID!]!) { fileVouchers(voucherIds: $v) { archiveNo } }', { v: v.data!.generateVouchers.map((x) => x.id) });
  expect(f.errors).toBeUndefined();
  archiveNos = f.data!.fileVouchers.map((r) => r.archiveNo);
});

describe('handing a year over', () => {
  let register: Register;

  it('a register whose lines were altered in the database before the second signature is void: the signature says so and nothing is handed over', async () => {
    const r = await a.gql<{ prepareHandover: Register }>(accountant, PREPARE, { y: 2025 });
    expect(r.errors).toBeUndefined();
    const altered = r.data!.prepareHandover;
    expect((await a.gql(accountant, SIGN, { id: altered.id, s: 'ACCOUNTING' })).errors).toBeUndefined();
    await a.connection.collection('archive_transfer_register_lines').updateOne({ seq: 1 }, { $set: { digest: 'f'.repeat(64) } });
    const refused = await a.gql(archivist, SIGN, { id: altered.id, s: 'ARCHIVES' });
    expect(refused.errors?.[0]).toMatchObject({
      message: 'the stored lines of this transfer register are not the ones it listed when prepared: the register is void, nothing was handed over; prepare a new register',
      extensions: { code: 'CONFLICT' },
    });
    expect(await a.connection.collection('archive_records').countDocuments({ kind: 'TRANSFER_REGISTER' })).toBe(0);
    expect(await a.connection.collection('archive_records').countDocuments({ custody: 'ARCHIVES' })).toBe(0);
  });

  it('a register awaiting its signatures is withdrawn with the reason: VOID, and the year may be listed again', async () => {
    const r = await a.gql<{ prepareHandover: Register }>(accountant, PREPARE, { y: 2025 });
    expect(r.errors).toBeUndefined();
    const WITHDRAW = 'mutation($id: ID!, $r: String!) { withdrawHandover(id: $id, reason: $r) { status voidReason } }';
    expect((await a.gql(archivist, WITHDRAW, { id: r.data!.prepareHandover.id, r: '  ' })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'reason' });
    expect((await a.gql(user('clerk-1', []), WITHDRAW, { id: r.data!.prepareHandover.id, r: '清册有误' })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const withdrawn = await a.gql<{ withdrawHandover: { status: string; voidReason: string } }>(archivist, WITHDRAW, { id: r.data!.prepareHandover.id, r: '清册编制有误，重新编制' });
    expect(withdrawn.data?.withdrawHandover).toEqual({ status: 'VOID', voidReason: 'withdrawn by archivist-1: 清册编制有误，重新编制' });
    expect((await a.gql(archivist, WITHDRAW, { id: r.data!.prepareHandover.id, r: '再次' })).errors?.[0]?.message).toBe('the transfer register of 2025 is VOID: only a register awaiting its signatures is withdrawn');
    expect((await a.gql(archivist, SIGN, { id: r.data!.prepareHandover.id, s: 'ARCHIVES' })).errors?.[0]?.message).toBe('the transfer register of 2025 is VOID');
  });

  it('a register lists every record of a year that has ended, once', async () => {
    // What HANDOVER_OVERDUE reads: 2025's records are with the accounting department (overdue once 2026 has ended).
    expect(await archivePorts(a.connection).custody.yearsNotHandedOver(2026)).toEqual([{ fiscalYear: 2025, records: 3 }]);
    expect(await archivePorts(a.connection).custody.yearsNotHandedOver(2025)).toEqual([]);
    expect((await a.gql(accountant, PREPARE, { y: 2026 })).errors?.[0]?.message).toBe('2026 has not ended: a year is handed over after it');
    const r = await a.gql<{ prepareHandover: Register }>(accountant, PREPARE, { y: 2025 });
    expect(r.errors).toBeUndefined();
    register = r.data!.prepareHandover;
    expect(register).toMatchObject({ status: 'AWAITING_SIGNATURES', recordCount: 3, signatures: [], archiveNo: null });
    expect(register.lines.totalCount).toBe(3);
    expect(register.lines.edges.map(({ node: l }) => [l.archiveNo, l.outcome, l.record.custody])).toEqual(archiveNos.sort().map((no) => [no, 'LISTED', 'ACCOUNTING']));
    expect((await a.gql(archivist, PREPARE, { y: 2025 })).errors?.[0]?.message).toBe('a transfer register of 2025 already awaits its signatures');
  });

  it('each side is signed by its role, by two different people; the first signature changes no custody', async () => {
    expect((await a.gql(accountant, SIGN, { id: register.id, s: 'ARCHIVES' })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const first = await a.gql<{ signHandover: Register }>(both, SIGN, { id: register.id, s: 'ACCOUNTING' });
    expect(first.data?.signHandover).toMatchObject({ status: 'AWAITING_SIGNATURES', signatures: [{ side: 'ACCOUNTING', by: 'both-1' }] });
    expect(first.data!.signHandover.lines.edges.every(({ node: l }) => l.record.custody === 'ACCOUNTING')).toBe(true);
    expect((await a.gql(both, SIGN, { id: register.id, s: 'ARCHIVES' })).errors?.[0]?.message).toBe('the two sides of a handover are signed by two different people');
    expect((await a.gql(accountant, SIGN, { id: register.id, s: 'ACCOUNTING' })).errors?.[0]?.message).toBe('the ACCOUNTING side of this register is already signed');
  });

  it('the second signature passes custody on every record and in its history, files the register, and the chain verifies', async () => {
    const r = await a.gql<{ signHandover: Register }>(archivist, SIGN, { id: register.id, s: 'ARCHIVES' });
    expect(r.errors).toBeUndefined();
    const signed = r.data!.signHandover;
    expect(signed).toMatchObject({ status: 'SIGNED', handedOver: 3, excluded: 0, archiveNo: 'Q001-2025-D30-QT-00001', archiveRecord: { kind: 'TRANSFER_REGISTER', category: 'QT', retention: 'Y30', custody: 'ARCHIVES' } });
    expect(signed.lines.edges.map(({ node: l }) => [l.outcome, l.record.custody])).toEqual(Array(3).fill(['HANDED_OVER', 'ARCHIVES']));
    const history = await a.connection.collection('archive_record_history').find({ action: 'HANDED_OVER' }).toArray();
    expect(history.map((h) => [h.archiveNo, h.state.custody, h.ref.no]).sort()).toEqual([...archiveNos, 'Q001-2025-D30-QT-00001'].sort().map((no) => [no, 'ARCHIVES', 'Q001-2025-D30-QT-00001']));
    const events = await a.connection.collection('domain_events').find({ type: 'HANDOVER_SIGNED' }).toArray();
    expect(events.map((e) => e.payload.detail)).toEqual(['2025: 3 records handed over to the archive department (Q001-2025-D30-QT-00001)']);
    expect((await a.gql<{ verifyArchiveChain: { ok: boolean } }>(archivist, '{ verifyArchiveChain { ok } }')).data?.verifyArchiveChain.ok).toBe(true);
    // Nothing of 2025 is left with the accounting department, the register included: the overdue rule's port agrees.
    expect((await a.gql(archivist, PREPARE, { y: 2025 })).errors?.[0]?.message).toBe("every record of 2025 is already in the archive department's custody");
    expect(await archivePorts(a.connection).custody.yearsNotHandedOver(2026)).toEqual([]);
  });

  it('custody edited in the database afterwards is found by verification', async () => {
    await a.connection.collection('archive_records').updateOne({ archiveNo: archiveNos[0] }, { $unset: { custody: '' } });
    const v = await a.gql<{ verifyArchiveChain: { ok: boolean; problem: string; firstBrokenArchiveNo: string } }>(archivist, '{ verifyArchiveChain { ok problem firstBrokenArchiveNo } }');
    expect(v.data?.verifyArchiveChain).toEqual({ ok: false, problem: 'LIFECYCLE_CHANGED', firstBrokenArchiveNo: archiveNos[0] });
  });
});
