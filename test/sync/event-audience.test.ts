// The row scope of sync events in its two forms: the filter the sync subgraph reads the log with (eventScope) and
// the predicate the gateway skips reads with (syncEventConcerns, over the audience the pipeline announces:
// eventAudience). For every caller who reads only their own events the two must agree on every event, or a
// subscriber would wait for an event it may see until the next poll. MongoDB's semantics of the filter come from
// the embedded engine's matcher.
import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../engine/query.ts';
import type { ApiScope, Principal, Role } from '../../platform/identity.ts';
import { readsOwnSyncEvents, syncEventConcerns } from '../../schema/permissions.ts';
import { eventAudience, eventScope } from '../../subgraphs/sync/context.ts';

const user = (sub: string, roles: Role[], departmentId: string | null): Principal => ({ sub, roles, departmentId, kind: 'user' });

const PRINCIPALS: Principal[] = [
  user('e1', ['EMPLOYEE'], 'd1'),
  user('e1', ['EMPLOYEE'], null),
  user('m1', ['EMPLOYEE', 'MANAGER'], 'd1'),
  user('m2', ['MANAGER'], null),
  user('x', [], 'd2'),
];
const OTHERS: Principal[] = [user('a', ['AUDITOR'], null), user('ad', ['ADMIN'], null), user('ac', ['ACCOUNTANT'], 'd1'), user('ar', ['ARCHIVIST'], null), user('f', ['FINANCE_DIRECTOR'], null), { sub: 'sync', roles: [], departmentId: null, kind: 'service' }];

const EVENTS = [
  { type: 'CLAIM_APPROVED', subject: { type: 'ExpenseClaim', id: 'c1' }, payload: { applicantId: 'e1', departmentId: 'd1' } },
  { type: 'ARCHIVE_FILED', subject: { type: 'ExpenseClaim', id: 'c2' }, payload: { applicantId: 'e2', departmentId: 'd1' } },
  { type: 'VOUCHER_CREATED', subject: { type: 'ExpenseClaim', id: 'c3' }, payload: { applicantId: 'e3', departmentId: 'd2' } },
  { type: 'SYNC_FAILED', subject: { type: 'ExpenseClaim', id: 'c4' }, payload: { applicantId: 'm1' } },
  { type: 'ARCHIVE_FILED', subject: { type: 'ArchiveRecord', id: 'r1' }, payload: { applicantId: 'e1', departmentId: 'd1' } },
  { type: 'ALERT_RAISED', subject: { type: 'Alert', id: 'a1' }, payload: {} },
  { type: 'RECONCILED', subject: { type: 'Reconciliation', id: 'x1' }, payload: { applicantId: 7, departmentId: null } },
  // Feedback: its sender's, whoever's claim it names (applicantId, departmentId are the claim's owner's).
  { type: 'FEEDBACK_RECEIVED', subject: { type: 'Feedback', id: 'f1' }, payload: { senderId: 'e1', applicantId: 'e1', departmentId: 'd1' } },
  { type: 'FEEDBACK_CLOSED', subject: { type: 'Feedback', id: 'f2' }, payload: { senderId: 'm1', applicantId: 'e3', departmentId: 'd1' } },
  { type: 'FEEDBACK_RECEIVED', subject: { type: 'Feedback', id: 'f3' }, payload: { senderId: 'x', applicantId: null, departmentId: null } },
];

describe('the row scope of sync events, as a filter and as a predicate', () => {
  it('agree on every event for every caller who reads only their own', () => {
    let concerned = 0;
    for (const p of PRINCIPALS) {
      expect(readsOwnSyncEvents(p)).toBe(true);
      const filter = compileFilter(eventScope(p));
      for (const e of EVENTS) {
        const expected = filter.test(e);
        expect(syncEventConcerns(p, eventAudience(e)), `${p.sub} ${JSON.stringify(p.roles)} ${p.departmentId}: ${e.type} of ${e.subject.type} ${e.subject.id}`).toBe(expected);
        if (expected) concerned++;
      }
    }
    expect(concerned).toBeGreaterThanOrEqual(4); // the comparison is not between empty scopes
  });

  it('leave everyone else (whose read is shared or unfiltered) to read at every announcement', () => {
    for (const p of OTHERS) expect(readsOwnSyncEvents(p)).toBe(false);
  });

  it("show feedback events to the operators, an API key of scope feedback:read and the sender, no one else", () => {
    const sees = (p: Principal) => {
      const filter = compileFilter(eventScope(p));
      return EVENTS.filter((e) => filter.test(e)).map((e) => `${e.type}:${e.subject.id}`);
    };
    const feedback = ['FEEDBACK_RECEIVED:f1', 'FEEDBACK_CLOSED:f2', 'FEEDBACK_RECEIVED:f3'];
    const key = (scopes: ApiScope[]): Principal => ({ sub: 'apikey:k', roles: [], departmentId: null, kind: 'integration', scopes });
    for (const p of [user('ad', ['ADMIN'], null), user('a', ['AUDITOR'], null)]) expect(sees(p)).toEqual(expect.arrayContaining(feedback));
    // The other `all` roles see every claim's event but of feedback only their own.
    expect(sees(user('x', ['ACCOUNTANT'], 'd2')).filter((e) => e.startsWith('FEEDBACK'))).toEqual(['FEEDBACK_RECEIVED:f3']);
    expect(sees(user('ac', ['ACCOUNTANT'], 'd1')).filter((e) => e.startsWith('FEEDBACK'))).toEqual([]);
    // A manager of d1 sees the department's claims, not the feedback naming them.
    expect(sees(user('m9', ['MANAGER'], 'd1')).filter((e) => e.startsWith('FEEDBACK'))).toEqual([]);
    expect(sees(key(['feedback:read']))).toEqual(feedback);
    expect(sees(key(['events:read'])).filter((e) => e.startsWith('FEEDBACK') || e.startsWith('ALERT'))).toEqual([]);
    expect(sees(key(['events:read', 'feedback:read']))).toEqual(expect.arrayContaining([...feedback, 'CLAIM_APPROVED:c1']));
    expect(eventScope(key(['reports:read']))).toEqual({ _id: { $exists: false } });
  });
});
