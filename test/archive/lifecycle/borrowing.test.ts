// Borrowing: request, the approval route (finance: archivist only; outside: archivist, then the head of the
// finance department), hand-out and return, reading during the loan only, and overdue loans marked once.
import { describe, expect, it } from 'vitest';
import { AccessLog, type AccessLogEntryDoc } from '../../../subgraphs/archive/lifecycle/access-log.ts';
import { readContent } from '../../../subgraphs/archive/lifecycle/content.ts';
import {
  decideLoan,
  getLoan,
  listLoans,
  loanApproval,
  loansAwaiting,
  markOverdue,
  requestLoan,
  returnLoan,
  startLoan,
} from '../../../subgraphs/archive/lifecycle/borrowing.ts';
import { placeHold } from '../../../subgraphs/archive/lifecycle/holds.ts';
import type { ArchiveRecordDoc } from '../../../subgraphs/archive/models.ts';
import { oaPorts } from '../../../subgraphs/oa/ports.ts';
import { DEPTS, PEOPLE, SERVICE, codeOf, idOf, useLifecycle, who } from './fixture.ts';

const fx = useLifecycle('borrowing');

const statusOf = async (r: ArchiveRecordDoc) => (await fx.svc.models.ArchiveRecord.findById(r._id, { status: 1 }).lean())!.status;
const logOf = (loanId: string) => new AccessLog(fx.connection).model.find({ loanId }).sort({ seq: 1 }).lean<AccessLogEntryDoc[]>();
const DEC_1 = new Date('2026-12-01T02:00:00Z');
const at = (iso: string) => new Date(`${iso}T02:00:00Z`);

describe('borrowing', () => {
  it('reads the organisation from the OA collections, without writing', async () => {
    const dir = oaPorts(fx.connection).directory;
    fx.commands.length = 0;
    expect(await dir.managerOf(DEPTS.finance)).toBe(PEOPLE.finHead.id);
    expect(await dir.parentOf(DEPTS.finance)).toBe(DEPTS.hq);
    expect(await dir.parentOf(DEPTS.hq)).toBeNull();
    expect(await dir.departmentOf(PEOPLE.alice.id)).toBe(DEPTS.sales);
    expect(await dir.departmentOf('nobody')).toBeNull();
    expect((await dir.employeesWithRole('ARCHIVIST')).sort()).toEqual([PEOPLE.archivist1.id, PEOPLE.archivist2.id].sort());
    expect(new Set(fx.commands.map((c) => c.name))).toEqual(new Set(['find']));
  });

  it('a borrower in the finance department needs the archivist only', async () => {
    fx.now = DEC_1;
    const record = await fx.file('SUBSIDIARY_LEDGER', 2024, 'Ledger 2024');
    const loan = await requestLoan(fx.svc, who('accountant'), { recordId: idOf(record), purpose: 'reconcile 2024 accruals', from: '2026-12-01', until: '2026-12-10' });
    expect(loan).toMatchObject({ status: 'REQUESTED', insideFinance: true, borrowerDepartmentId: DEPTS.finance, archiveNo: record.archiveNo });
    const approval = (await loanApproval(fx.svc, loan))!;
    expect(approval.definitionKey).toBe('archive-borrowing');
    expect(approval.steps.map((s) => [s.key, s.status])).toEqual([['archivist', 'ACTIVE'], ['accounting-head', 'SKIPPED']]);
    expect((await loansAwaiting(fx.svc, who('archivist2'))).map(idOf)).toEqual([idOf(loan)]);

    const approved = await decideLoan(fx.svc, who('archivist2'), idOf(loan), 'APPROVE', 'ok');
    expect(approved.status).toBe('APPROVED');
    const events = (await fx.svc.events.forSubject({ type: 'Loan', id: idOf(loan) })).map((e) => e.type);
    expect(events).toEqual(['LOAN_REQUESTED', 'LOAN_APPROVED']);
    expect((await logOf(idOf(loan))).map((e) => [e.action, e.actorId])).toEqual([
      ['LOAN_REQUESTED', PEOPLE.accountant.id],
      ['LOAN_APPROVED', PEOPLE.archivist2.id],
    ]);
  });

  it('a borrower outside finance needs the archivist, then the head of the finance department', async () => {
    fx.now = DEC_1;
    const record = await fx.file('JOURNAL', 2024, 'Cash journal 2024');
    const loan = await requestLoan(fx.svc, who('alice'), { recordId: idOf(record), purpose: 'customer dispute', from: '2026-12-02', until: '2026-12-05' });
    expect(loan.insideFinance).toBe(false);
    expect(await codeOf(() => decideLoan(fx.svc, who('alice'), idOf(loan), 'APPROVE'))).toBe('FORBIDDEN');
    expect(await codeOf(() => decideLoan(fx.svc, who('finHead'), idOf(loan), 'APPROVE'))).toBe('FORBIDDEN');
    const afterArchivist = await decideLoan(fx.svc, who('archivist1'), idOf(loan), 'APPROVE');
    expect(afterArchivist.status).toBe('REQUESTED');
    expect(await codeOf(() => decideLoan(fx.svc, who('salesHead'), idOf(loan), 'APPROVE'))).toBe('FORBIDDEN');
    expect((await loansAwaiting(fx.svc, who('finHead'))).map(idOf)).toEqual([idOf(loan)]);
    // The head of finance may read the loan they are asked to decide; the sales head may not.
    expect(await getLoan(fx.svc, who('finHead'), idOf(loan))).not.toBeNull();
    expect(await getLoan(fx.svc, who('salesHead'), idOf(loan))).toBeNull();
    const approved = await decideLoan(fx.svc, who('finHead'), idOf(loan), 'APPROVE');
    expect(approved.status).toBe('APPROVED');
    const approval = (await loanApproval(fx.svc, approved))!;
    expect(approval.steps.map((s) => [s.key, s.status, s.decisions.map((d) => d.approverId)])).toEqual([
      ['archivist', 'APPROVED', [PEOPLE.archivist1.id]],
      ['accounting-head', 'APPROVED', [PEOPLE.finHead.id]],
    ]);
    expect((await fx.svc.events.forSubject({ type: 'Loan', id: idOf(loan) })).map((e) => e.type)).toEqual(['LOAN_REQUESTED', 'LOAN_STEP_APPROVED', 'LOAN_APPROVED']);
    expect(await codeOf(() => decideLoan(fx.svc, who('finHead'), idOf(loan), 'APPROVE'))).toBe('CONFLICT');
  });

  it('a rejection ends the loan', async () => {
    fx.now = DEC_1;
    const record = await fx.file('JOURNAL', 2024, 'Bank journal 2024');
    const loan = await requestLoan(fx.svc, who('bob'), { recordId: idOf(record), purpose: 'curiosity', from: '2026-12-01', until: '2026-12-02' });
    await decideLoan(fx.svc, who('archivist1'), idOf(loan), 'APPROVE');
    const rejected = await decideLoan(fx.svc, who('finHead'), idOf(loan), 'REJECT', 'no business need');
    expect(rejected.status).toBe('REJECTED');
    expect((await fx.eventsOf('LOAN_REJECTED')).map((e) => e.subject.id)).toEqual([idOf(loan)]);
    expect((await logOf(idOf(loan))).map((e) => e.action)).toEqual(['LOAN_REQUESTED', 'LOAN_REJECTED']);
    expect(await codeOf(() => startLoan(fx.svc, who('archivist1'), idOf(loan)))).toBe('CONFLICT');
  });

  it('checks the request: purpose, a period of at most 90 days from today, a record not destroyed, one open request', async () => {
    fx.now = DEC_1;
    const record = await fx.file('GENERAL_LEDGER', 2024, 'General ledger 2024');
    const ask = (over: Record<string, string>) => requestLoan(fx.svc, who('bob'), { recordId: idOf(record), purpose: 'audit', from: '2026-12-01', until: '2026-12-31', ...over });
    expect(await codeOf(() => ask({ purpose: '' }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => ask({ until: '2026-12-01' }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => ask({ until: '2026-11-30' }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => ask({ until: '2027-03-02' }))).toBe('BAD_USER_INPUT'); // 91 days
    expect(await codeOf(() => ask({ from: '2026-11-30' }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => ask({ from: '2026-02-30' }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => ask({ recordId: '0123456789abcdef01234567' }))).toBe('NOT_FOUND');
    expect(await codeOf(() => requestLoan(fx.svc, SERVICE, { recordId: idOf(record), purpose: 'x', from: '2026-12-01', until: '2026-12-02' }))).toBe('FORBIDDEN');
    const ninety = await ask({ until: '2027-03-01' });
    expect(ninety.status).toBe('REQUESTED');
    expect(await codeOf(() => ask({}))).toBe('CONFLICT');

    const gone = await fx.file('TAX_RETURN', 2012, 'VAT 2012');
    await fx.svc.models.ArchiveRecord.updateOne({ _id: gone._id }, { $set: { status: 'DESTROYED', content: null, destroyedAt: new Date() } });
    expect(await codeOf(() => ask({ recordId: idOf(gone) }))).toBe('CONFLICT');
  });

  it('hands out and takes back; the borrower reads the content during the loan only', async () => {
    fx.now = DEC_1;
    const record = await fx.file('BANK_STATEMENT', 2025, 'Bank statement Nov 2025');
    const loan = await requestLoan(fx.svc, who('accountant'), { recordId: idOf(record), purpose: 'tax inspection', from: '2026-12-03', until: '2026-12-08' });
    const other = await requestLoan(fx.svc, who('finDirector'), { recordId: idOf(record), purpose: 'review', from: '2026-12-03', until: '2026-12-04' });
    await decideLoan(fx.svc, who('archivist1'), idOf(loan), 'APPROVE');
    await decideLoan(fx.svc, who('archivist1'), idOf(other), 'APPROVE');
    const readByBorrower = () => readContent(fx.svc, who('accountant'), idOf(record), 'tax inspection');
    const readByAlice = () => readContent(fx.svc, who('alice'), idOf(record), 'peek');

    expect(await codeOf(() => startLoan(fx.svc, who('archivist1'), idOf(loan)))).toBe('CONFLICT'); // starts on Dec 3
    fx.now = at('2026-12-03');
    expect(await codeOf(() => startLoan(fx.svc, who('accountant'), idOf(loan)))).toBe('FORBIDDEN');
    const started = await startLoan(fx.svc, who('archivist1'), idOf(loan));
    expect(started).toMatchObject({ status: 'ON_LOAN', handedOutBy: PEOPLE.archivist1.id });
    expect(await statusOf(record)).toBe('BORROWED');
    expect(await codeOf(() => startLoan(fx.svc, who('archivist2'), idOf(other)))).toBe('CONFLICT'); // already out

    // An employee with a loan reads; the accountant role reads anyway, so use alice for the role-less case below.
    const read = await readByBorrower();
    expect(read.entry).toMatchObject({ action: 'READ_CONTENT', loanId: null });
    expect(await codeOf(readByAlice)).toBe('FORBIDDEN');

    await returnLoan(fx.svc, who('archivist2'), idOf(loan));
    expect(await statusOf(record)).toBe('FILED');
    expect((await logOf(idOf(loan))).map((e) => e.action)).toEqual(['LOAN_REQUESTED', 'LOAN_APPROVED', 'LOAN_STARTED', 'LOAN_RETURNED']);
    expect((await fx.svc.events.forSubject({ type: 'Loan', id: idOf(loan) })).map((e) => e.type)).toEqual(['LOAN_REQUESTED', 'LOAN_APPROVED', 'LOAN_STARTED', 'LOAN_RETURNED']);
    expect(await codeOf(() => returnLoan(fx.svc, who('archivist2'), idOf(loan)))).toBe('CONFLICT');
  });

  it('an employee without a reading role reads only while the loan is out and within its period', async () => {
    fx.now = DEC_1;
    const record = await fx.file('BANK_RECONCILIATION', 2025, 'Reconciliation Oct 2025');
    const loan = await requestLoan(fx.svc, who('alice'), { recordId: idOf(record), purpose: 'customer dispute #42', from: '2026-12-01', until: '2026-12-03' });
    await decideLoan(fx.svc, who('archivist2'), idOf(loan), 'APPROVE');
    await decideLoan(fx.svc, who('finHead'), idOf(loan), 'APPROVE');
    const read = () => readContent(fx.svc, who('alice'), idOf(record), 'dispute #42');
    expect(await codeOf(read)).toBe('FORBIDDEN'); // approved, not handed out
    await startLoan(fx.svc, who('archivist2'), idOf(loan));
    const got = await read();
    expect(got.content).toBe(record.content);
    expect(got.entry).toMatchObject({ action: 'READ_CONTENT', actorId: PEOPLE.alice.id, loanId: idOf(loan), purpose: 'dispute #42' });
    expect(await codeOf(() => readContent(fx.svc, who('bob'), idOf(record), 'me too'))).toBe('FORBIDDEN');
    fx.now = at('2026-12-04'); // past its last day, not yet returned
    expect(await codeOf(read)).toBe('FORBIDDEN');
    fx.now = at('2026-12-03');
    await returnLoan(fx.svc, who('archivist1'), idOf(loan));
    expect(await codeOf(read)).toBe('FORBIDDEN');
  });

  it('marks a loan past its last day OVERDUE once, with one LOAN_OVERDUE event', async () => {
    fx.now = DEC_1;
    const record = await fx.file('SUBSIDIARY_LEDGER', 2025, 'AR ledger 2025');
    const loan = await requestLoan(fx.svc, who('accountant'), { recordId: idOf(record), purpose: 'aging review', from: '2026-12-01', until: '2026-12-05' });
    await decideLoan(fx.svc, who('archivist1'), idOf(loan), 'APPROVE');
    await startLoan(fx.svc, who('archivist1'), idOf(loan));
    expect(await markOverdue(fx.svc, SERVICE, at('2026-12-05'))).toBe(0); // the last day is still within the loan
    expect(await codeOf(() => markOverdue(fx.svc, who('alice'), at('2026-12-06')))).toBe('FORBIDDEN');
    expect(await markOverdue(fx.svc, SERVICE, at('2026-12-06'))).toBe(1);
    expect(await markOverdue(fx.svc, who('archivist2'), at('2026-12-07'))).toBe(0);
    const overdue = (await fx.eventsOf('LOAN_OVERDUE')).filter((e) => e.subject.id === idOf(loan));
    expect(overdue).toHaveLength(1);
    expect((await getLoan(fx.svc, who('accountant'), idOf(loan)))!.status).toBe('OVERDUE');
    // A hold placed meanwhile: back from loan the record is kept apart.
    await placeHold(fx.svc, who('accountant'), idOf(record), 'receivable from Acme Ltd unsettled');
    expect(await statusOf(record)).toBe('BORROWED');
    fx.now = at('2026-12-08');
    const returned = await returnLoan(fx.svc, who('archivist1'), idOf(loan));
    expect(returned.status).toBe('RETURNED');
    expect(await statusOf(record)).toBe('ON_HOLD');
    expect((await fx.svc.events.forSubject({ type: 'Loan', id: idOf(loan) })).at(-1)!.payload).toMatchObject({ wasOverdue: true });
  });

  it('lends a record on hold (a hold blocks destruction only) and puts it back on hold', async () => {
    fx.now = DEC_1;
    const record = await fx.file('AUXILIARY_BOOK', 2025, 'Loans register 2025');
    await placeHold(fx.svc, who('archivist1'), idOf(record), 'loan to supplier outstanding');
    const loan = await requestLoan(fx.svc, who('accountant'), { recordId: idOf(record), purpose: 'collection', from: '2026-12-01', until: '2026-12-02' });
    await decideLoan(fx.svc, who('archivist2'), idOf(loan), 'APPROVE');
    await startLoan(fx.svc, who('archivist2'), idOf(loan));
    expect(await statusOf(record)).toBe('BORROWED');
    await returnLoan(fx.svc, who('archivist2'), idOf(loan));
    expect(await statusOf(record)).toBe('ON_HOLD');
  });

  it('lists all loans for archivists and auditors, one’s own for others', async () => {
    const all = await listLoans(fx.svc, who('auditor'), { first: 100 });
    const mine = await listLoans(fx.svc, who('alice'), { first: 100 });
    expect(all.totalCount).toBeGreaterThan(mine.totalCount);
    expect(mine.edges.every((e) => e.node.borrowerId === PEOPLE.alice.id)).toBe(true);
    expect((await listLoans(fx.svc, who('alice'), { borrowerId: PEOPLE.bob.id, first: 10 })).totalCount).toBe(0);
    const page = await listLoans(fx.svc, who('archivist1'), { first: 2 });
    const next = await listLoans(fx.svc, who('archivist1'), { first: 2, after: page.pageInfo.endCursor });
    expect(next.edges[0].node._id.toHexString() < page.edges[1].node._id.toHexString()).toBe(true);
    // Relay's PageInfo, forwards: the first page has nothing before it, the next one has.
    expect(page.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: page.edges[0].cursor, endCursor: page.edges[1].cursor });
    expect(next.pageInfo).toMatchObject({ hasPreviousPage: true, startCursor: next.edges[0].cursor });
  });
});
