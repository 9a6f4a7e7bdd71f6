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
import { readsAllRows, selectsSensitiveField, viewKey } from '../../gateway/subscriptions/view.ts';
import { createLogger } from '../../platform/logger.ts';

const user = (sub: string, roles: Role[], departmentId: string | null = null): Principal => ({ sub, roles, departmentId, kind: 'user' });
const PLAIN = parse('subscription { syncEvents { seq type claim { claimNo } } }');
const SENSITIVE = parse('subscription { syncEvents { seq claim { applicant { ...A } } } } fragment A on Employee { name bankAccount }');

describe('viewKey', () => {
  it('is one key for identities that read every row, with no sensitive field selected', () => {
    expect(readsAllRows(user('a1', ['AUDITOR']))).toBe(true);
    expect(viewKey(user('a1', ['AUDITOR']), PLAIN)).toBe(viewKey(user('a2', ['AUDITOR']), PLAIN));
    expect(viewKey(user('f1', ['FINANCE_DIRECTOR', 'EMPLOYEE']), PLAIN)).toBe(viewKey(user('f2', ['EMPLOYEE', 'FINANCE_DIRECTOR']), PLAIN));
  });

  it('keeps the subject for everyone whose rows or fields depend on who they are', () => {
    // Own claims, the department's, the approvals assigned: the subject decides.
    for (const roles of [['EMPLOYEE'], ['MANAGER'], ['ADMIN'], ['ARCHIVIST']] as Role[][]) {
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

describe('FeedStreams sharing reads between equal views', () => {
  it('answers 50 auditors from one read per page, and 5 employees with one read each', async () => {
    const reads: string[] = [];
    const schema = makeExecutableSchema({
      typeDefs: /* GraphQL */ `
        type Event { seq: String! type: String! }
        type Query { syncEventHead: String! syncEvents(after: String, first: Int): [Event!]! }
        type Subscription { syncEvents(after: String): Event! }
      `,
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
