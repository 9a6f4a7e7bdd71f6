// Subscribers with equal permission views share one read of the event log (gateway/subscriptions/view.ts): the
// key drops the subject only for identities that read every row and select no sensitive field, and FeedStreams
// then answers many such subscribers from one execution of their query; other identities each read for themselves.
import { makeExecutableSchema } from '@graphql-tools/schema';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../platform/integration/event-bus.ts';
import type { Principal, Role } from '../../platform/identity.ts';
import { EventFeed } from '../../gateway/subscriptions/feed.ts';
import { FeedStreams } from '../../gateway/subscriptions/stream.ts';
import { mayReadFeedback, readsAllRows, selectsSensitiveField, viewKey } from '../../gateway/subscriptions/view.ts';
import { SYNC_EVENT_LOG } from '../../gateway/subscriptions/feeds.ts';
import { vi } from 'vitest';
import { createLogger } from '../../platform/logger.ts';

const user = (sub: string, roles: Role[], departmentId: string | null = null): Principal => ({ sub, roles, departmentId, kind: 'user' });
/** A log's subgraph in miniature: the head, the events after a cursor, and the subscription the gateway serves from them. */
const EVENT_SDL = /* GraphQL */ `
  type Event { seq: String! type: String! }
  type Query { syncEventHead: String! syncEvents(after: String, first: Int): [Event!]! }
  type Subscription { syncEvents(after: String): Event! }
`;
const PLAIN = parse('subscription { syncEvents { seq type claim { claimNo } } }');
const SENSITIVE = parse('subscription { syncEvents { seq claim { applicant { ...A } } } } fragment A on Employee { name bankAccount }');

describe('viewKey', () => {
  it('is one key for identities that read every row, with no sensitive field selected', () => {
    expect(readsAllRows(user('a1', ['AUDITOR']))).toBe(true);
    expect(viewKey(user('a1', ['AUDITOR']), PLAIN)).toBe(viewKey(user('a2', ['AUDITOR']), PLAIN));
    expect(viewKey(user('a1', ['AUDITOR', 'EMPLOYEE']), PLAIN)).toBe(viewKey(user('a2', ['EMPLOYEE', 'AUDITOR']), PLAIN));
  });

  it('keeps the subject for everyone whose rows or fields depend on who they are', () => {
    // Own claims, the department's, the approvals assigned: the subject decides.
    // A FINANCE_DIRECTOR reads every claim's events, but of feedback only their own (ROW_SCOPES.Feedback).
    for (const roles of [['EMPLOYEE'], ['MANAGER'], ['ADMIN'], ['ARCHIVIST'], ['FINANCE_DIRECTOR', 'EMPLOYEE']] as Role[][]) {
      expect(readsAllRows(user('x', roles))).toBe(false);
      expect(viewKey(user('e1', roles, 'd1'), PLAIN)).not.toBe(viewKey(user('e2', roles, 'd1'), PLAIN));
    }
    // An owner sees their own bank account in full: a sensitive field, even in a fragment, keeps the subject.
    expect(selectsSensitiveField(SENSITIVE)).toBe(true);
    expect(viewKey(user('a1', ['AUDITOR']), SENSITIVE)).not.toBe(viewKey(user('a2', ['AUDITOR']), SENSITIVE));
    // Roles and department are always part of it; services are never pooled with users.
    expect(viewKey(user('a1', ['AUDITOR']), PLAIN)).not.toBe(viewKey(user('a1', ['ACCOUNTANT']), PLAIN));
    expect(viewKey({ sub: 'sync', roles: [], departmentId: null, kind: 'service' }, PLAIN)).toBe('service:::sync');
    expect(viewKey(null, PLAIN)).toBe('anonymous');
  });
});

describe('viewKey and the event types a read can return', () => {
  const read = (types: string) => parse(`query Q($t: [SyncEventType!]) { syncEvents(types: ${types}, after: "0", first: 50) { seq type claim { claimNo } } }`);

  it('pools finance roles that ask for no feedback events: they read every claim, and of feedback only their own', () => {
    for (const roles of [['ACCOUNTANT'], ['FINANCE_DIRECTOR'], ['ACCOUNTANT', 'EMPLOYEE']] as Role[][]) {
      const a = user('f1', roles);
      const b = user('f2', roles);
      // Without types (every event, feedback's too) and with a feedback type: each their own read.
      expect(mayReadFeedback(PLAIN)).toBe(true);
      expect(viewKey(a, PLAIN)).not.toBe(viewKey(b, PLAIN));
      expect(viewKey(a, read('[ARCHIVE_FILED, FEEDBACK_CLOSED]'))).not.toBe(viewKey(b, read('[ARCHIVE_FILED, FEEDBACK_CLOSED]')));
      expect(viewKey(a, read('$t'), { t: ['FEEDBACK_RECEIVED'] })).not.toBe(viewKey(b, read('$t'), { t: ['FEEDBACK_RECEIVED'] }));
      expect(viewKey(a, read('$t'), {})).not.toBe(viewKey(b, read('$t'), {})); // a variable left unset: every type
      // Types without feedback's, literal or in a variable: one read.
      expect(viewKey(a, read('[CLAIM_APPROVED, ARCHIVE_FILED]'))).toBe(viewKey(b, read('[CLAIM_APPROVED, ARCHIVE_FILED]')));
      expect(viewKey(a, read('ARCHIVE_FILED'))).toBe(viewKey(b, read('ARCHIVE_FILED')));
      expect(viewKey(a, read('$t'), { t: ['VOUCHER_GENERATED'] })).toBe(viewKey(b, read('$t'), { t: ['VOUCHER_GENERATED'] }));
    }
    // The rule is about feedback alone: employees, managers and ADMIN (who reads own claims only) still read alone.
    for (const roles of [['EMPLOYEE'], ['MANAGER'], ['ADMIN'], ['ARCHIVIST']] as Role[][]) {
      expect(viewKey(user('e1', roles, 'd1'), read('[ARCHIVE_FILED]'))).not.toBe(viewKey(user('e2', roles, 'd1'), read('[ARCHIVE_FILED]')));
    }
    // A sensitive field still keeps the subject.
    const sensitive = parse('query { syncEvents(types: [ARCHIVE_FILED]) { seq claim { applicant { bankAccount } } } }');
    expect(viewKey(user('f1', ['ACCOUNTANT']), sensitive)).not.toBe(viewKey(user('f2', ['ACCOUNTANT']), sensitive));
    // Alerts carry no feedback.
    expect(mayReadFeedback(parse('query { alertEvents(after: "0") { seq } }'))).toBe(false);
  });
});

describe('FeedStreams sharing reads between equal views', () => {
  it('answers 50 auditors from one read per page, and 5 employees with one read each', async () => {
    const reads: string[] = [];
    const schema = makeExecutableSchema({
      typeDefs: EVENT_SDL,
      resolvers: {
        Query: {
          syncEventHead: () => '000000000000',
          syncEvents: async (_: unknown, args: { after: string }, ctx: { principal: Principal }) => {
            reads.push(ctx.principal.sub);
            // Two events after the start; nothing after them.
            await new Promise((r) => setTimeout(r, 20));
            return Number(args.after) === 0 ? [{ seq: '000000000001', type: 'A' }, { seq: '000000000002', type: 'B' }] : [];
          },
        },
      },
    });
    const bus = new LocalEventBus();
    const feed = new EventFeed(bus);
    const streams = new FeedStreams({
      schema,
      feed,
      logger: createLogger({ level: 'silent' }),
      log: { head: 'syncEventHead', seqWidth: 12, reserved: { cursor: 'gatewaySyncAfter', seq: 'gatewaySyncSeq' }, feeds: [{ subscription: 'syncEvents', query: 'syncEvents', payload: null, seq: 'seq', cursor: 'after', pageSize: 'first', filters: [] }] },
    });
    const document = parse('subscription { syncEvents(after: "000000000000") { seq type } }');
    const firstTwo = async (principal: Principal) => {
      const it = streams.stream({ document, context: { principal, directory: async () => null } });
      const got = [(await it.next()).value, (await it.next()).value];
      await it.return(undefined);
      return got.map((r) => (r as { data: { syncEvents: { seq: string } } }).data.syncEvents.seq);
    };
    const auditors = await Promise.all(Array.from({ length: 50 }, (_, i) => firstTwo(user(`auditor-${i}`, ['AUDITOR']))));
    expect(auditors.every((seqs) => seqs.join() === '000000000001,000000000002')).toBe(true);
    expect(reads).toHaveLength(1);
    reads.length = 0;
    const employees = await Promise.all(Array.from({ length: 5 }, (_, i) => firstTwo(user(`employee-${i}`, ['EMPLOYEE']))));
    expect(employees.every((seqs) => seqs.join() === '000000000001,000000000002')).toBe(true);
    expect(reads.sort()).toEqual(['employee-0', 'employee-1', 'employee-2', 'employee-3', 'employee-4']);
    streams.closeAll();
    feed.close();
    await bus.close();
  });
});

describe('FeedStreams passing over announcements of other people\'s events', () => {
  it('makes an employee read the log only when an event of theirs (or, for a manager, of the department) is announced', async () => {
    const reads: string[] = [];
    const events: { seq: string; type: string; applicantId: string; departmentId: string }[] = [];
    const schema = makeExecutableSchema({
      typeDefs: EVENT_SDL,
      resolvers: {
        Query: {
          syncEventHead: () => '000000000000',
          // The subgraph's row scope, as eventScope filters: everything for an auditor, else one's own claims and a
          // manager's department's.
          syncEvents: (_: unknown, args: { after: string }, ctx: { principal: Principal }) => {
            reads.push(ctx.principal.sub);
            const p = ctx.principal;
            const all = p.roles.includes('AUDITOR');
            return events.filter((e) => Number(e.seq) > Number(args.after) && (all || e.applicantId === p.sub || (p.roles.includes('MANAGER') && e.departmentId === p.departmentId)));
          },
        },
      },
    });
    const bus = new LocalEventBus();
    const feed = new EventFeed(bus);
    const { head, seqWidth, reserved, audience } = SYNC_EVENT_LOG;
    const streams = new FeedStreams({
      schema,
      feed,
      logger: createLogger({ level: 'silent' }),
      log: { head, seqWidth, reserved, audience, feeds: [{ subscription: 'syncEvents', query: 'syncEvents', payload: null, seq: 'seq', cursor: 'after', pageSize: 'first', filters: [] }] },
    });
    const document = parse('subscription { syncEvents(after: "000000000000") { seq type } }');
    const people = [...Array.from({ length: 20 }, (_, i) => user(`employee-${i}`, ['EMPLOYEE'], i < 10 ? 'd1' : 'd2')), user('manager-d1', ['EMPLOYEE', 'MANAGER'], 'd1'), user('auditor', ['AUDITOR'])];
    const iterators = people.map((principal) => streams.stream({ document, context: { principal, directory: async () => null } }));
    const next = iterators.map((it) => it.next());
    await vi.waitFor(() => expect(reads).toHaveLength(people.length)); // each read once from the start: nothing yet
    reads.length = 0;

    // employee-3's approval (department d1), then another department's claim: announced with their audiences.
    events.push({ seq: '000000000001', type: 'CLAIM_APPROVED', applicantId: 'employee-3', departmentId: 'd1' }, { seq: '000000000002', type: 'CLAIM_APPROVED', applicantId: 'employee-15', departmentId: 'd2' });
    await bus.publish([
      { seq: '000000000001', type: 'CLAIM_APPROVED', audience: { claim: true, applicantId: 'employee-3', departmentId: 'd1' } },
      { seq: '000000000002', type: 'CLAIM_APPROVED', audience: { claim: true, applicantId: 'employee-15', departmentId: 'd2' } },
    ]);
    const seqOf = async (i: number) => ((await next[i]).value as { data: { syncEvents: { seq: string } } }).data.syncEvents.seq;
    expect(await seqOf(3)).toBe('000000000001');
    expect(await seqOf(15)).toBe('000000000002');
    expect(await seqOf(20)).toBe('000000000001'); // the manager of d1
    expect(await seqOf(21)).toBe('000000000001'); // the auditor reads everything, as before
    // Then an announcement whose audience is unknown (a poll of the head): everyone still waiting reads once.
    await bus.publish([{ seq: '000000000003', type: 'HEAD' }]);
    const waiting = people.length - 4;
    await vi.waitFor(() => expect(reads.length).toBeGreaterThanOrEqual(4 + waiting));
    // Those four read for the first announcement; the 18 others only for the second.
    expect(reads.slice(0, 4).sort()).toEqual(['auditor', 'employee-15', 'employee-3', 'manager-d1']);
    expect(reads.slice(4).filter((sub) => !['auditor', 'employee-15', 'employee-3', 'manager-d1'].includes(sub))).toHaveLength(waiting);
    streams.closeAll();
    for (const it of iterators) await it.return(undefined);
    feed.close();
    await bus.close();
  });
});

describe('EventFeed.concerns', () => {
  it('is false only when every event announced since is known to be another\'s', async () => {
    const bus = new LocalEventBus();
    const feed = new EventFeed(bus);
    const mine = (a: { applicantId: string | null }) => a.applicantId === 'me';
    const claim = (applicantId: string) => ({ claim: true, applicantId, departmentId: null });
    expect(feed.concerns(0, mine)).toBe(false); // nothing announced
    await bus.publish([{ seq: '5', type: 'CLAIM_APPROVED', audience: claim('other') }]);
    expect(feed.concerns(0, mine)).toBe(false);
    await bus.publish([{ seq: '6', type: 'CLAIM_APPROVED', audience: claim('me') }]);
    expect(feed.concerns(0, mine)).toBe(true);
    expect(feed.concerns(6, mine)).toBe(false); // nothing after 6
    await bus.publish([{ seq: '4', type: 'ARCHIVE_FILED', audience: claim('me') }]); // late, out of order
    expect(feed.concerns(3, mine)).toBe(true);
    await bus.publish([{ seq: '7', type: 'HEAD' }]); // unknown audience
    expect(feed.concerns(6, mine)).toBe(true);
    await bus.publish([{ seq: '', type: 'STORED' }]); // a doorbell names no event
    expect(feed.concerns(7, mine)).toBe(false);
    // Announcements forgotten (more than it remembers) before `after`'s time: it cannot tell, so it says true.
    for (let i = 0; i < 2100; i++) await bus.publish([{ seq: String(8 + i), type: 'CLAIM_APPROVED', audience: claim('other') }]);
    expect(feed.concerns(7, mine)).toBe(true);
    expect(feed.concerns(2000, mine)).toBe(false);
    feed.close();
    await bus.close();
  });
});
