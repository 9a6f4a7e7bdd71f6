// Dates within reason and money totals through the real oa subgraph (platform/input-bounds.ts): each bound refused
// with BAD_USER_INPUT naming the field, the bounds themselves accepted.
import { beforeAll, describe, expect, it } from 'vitest';
import { today } from '../../platform/graphql.ts';
import { addDays, addYears } from '../../platform/input-bounds.ts';
import { type GqlResult, codes, ok, useOaSubgraph } from './fixture.ts';
import { CREATE_CLAIM, type Org, seedOrg } from './seed.ts';

const oa = useOaSubgraph('oa_input_bounds');
let org: Org;
beforeAll(async () => {
  org = await seedOrg(oa);
});

const todayHere = () => today('Asia/Shanghai');
const claim = (items: Array<{ amount: string; occurredOn: string }>) =>
  oa.gql<{ createExpenseClaim: { total: string; items: Array<{ occurredOn: string }> } }>(org.as.alice, CREATE_CLAIM, {
    input: { title: 'Bounds', category: 'TRAVEL', items: items.map((i, n) => ({ description: `item ${n}`, ...i })) },
  });
/** The codes of a refused call, and the first error's field (extensions.field) and message. */
const refusal = <T,>(res: GqlResult<T>) => ({
  codes: codes(res as GqlResult),
  field: (res.errors?.[0].extensions as { field?: string } | undefined)?.field,
  message: res.errors?.[0].message,
});

describe('expense item dates', () => {
  it('accepts today and ten years ago, refuses tomorrow and a day earlier, naming the item', async () => {
    const t = todayHere();
    const filed = ok(await claim([{ amount: '1.00', occurredOn: t }, { amount: '2.00', occurredOn: addYears(t, -10) }])).createExpenseClaim;
    expect(filed.items.map((i) => i.occurredOn)).toEqual([t, addYears(t, -10)]);
    expect(refusal(await claim([{ amount: '1.00', occurredOn: t }, { amount: '1.00', occurredOn: t }, { amount: '1.00', occurredOn: addDays(t, 1) }]))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'items[2].occurredOn',
      message: `items[2].occurredOn must not be in the future (${t} in Asia/Shanghai)`,
    });
    expect(refusal(await claim([{ amount: '1.00', occurredOn: addDays(addYears(t, -10), -1) }]))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'items[0].occurredOn',
      message: `items[0].occurredOn must not be more than 10 years ago (earliest ${addYears(t, -10)} in Asia/Shanghai)`,
    });
  });

  it('refuses year 0100 and 275760 in the scalar, before any resolver', async () => {
    const before = await oa.connection.collection('expense_claims').countDocuments();
    for (const day of ['0100-01-01', '275760-09-13']) {
      const res = await claim([{ amount: '1.00', occurredOn: day }]);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0].message).toMatch(day === '0100-01-01' ? /Date 0100-01-01 is out of range: years 1900 to 2200 only/ : /is not a date/);
    }
    expect(await oa.connection.collection('expense_claims').countDocuments()).toBe(before);
  });
});

describe('money totals', () => {
  it('accepts a total of exactly 9999999999999.99 and refuses one fen more, or a sum beyond 2^53, as BAD_USER_INPUT', async () => {
    const t = todayHere();
    expect(ok(await claim([{ amount: '9999999999999.98', occurredOn: t }, { amount: '0.01', occurredOn: t }])).createExpenseClaim.total).toBe('9999999999999.99');
    expect(refusal(await claim([{ amount: '9999999999999.99', occurredOn: t }, { amount: '0.01', occurredOn: t }]))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'items',
      message: 'items: the total must not exceed 9999999999999.99',
    });
    // A hundred maximal items sum to about 10^17 fen, past the exact range of numbers: refused, not a server error.
    const many = await claim(Array.from({ length: 100 }, () => ({ amount: '9999999999999.99', occurredOn: t })));
    expect(refusal(many)).toMatchObject({ codes: ['BAD_USER_INPUT'], field: 'items' });
  });
});

describe('delegation windows', () => {
  const DELEGATE = 'mutation($to: ID!, $s: DateTime!, $e: DateTime!) { delegateApprovals(toEmployeeId: $to, startsAt: $s, endsAt: $e) { id endsAt } }';
  const delegate = (s: Date | string, e: Date | string) =>
    oa.gql<{ delegateApprovals: { id: string; endsAt: string } }>(org.as.salesManager, DELEGATE, { to: org.ids.ceo, s: s instanceof Date ? s.toISOString() : s, e: e instanceof Date ? e.toISOString() : e });
  const yearAhead = (ms: number) => {
    const d = new Date(Date.now() + ms);
    d.setUTCFullYear(d.getUTCFullYear() + 1);
    return d;
  };

  it('accepts a window ending just within a year, refuses one beyond, one already over, and year 275760', async () => {
    const end = yearAhead(-60_000);
    expect(ok(await delegate(new Date(), end)).delegateApprovals.endsAt).toBe(end.toISOString());
    const beyond = refusal(await delegate(new Date(), yearAhead(60_000)));
    expect(beyond).toMatchObject({ codes: ['BAD_USER_INPUT'], field: 'endsAt' });
    expect(beyond.message).toMatch(/^endsAt must not be more than 1 year ahead \(/);
    expect(refusal(await delegate(new Date(Date.now() - 2 * 86_400_000), new Date(Date.now() - 86_400_000)))).toMatchObject({ codes: ['BAD_USER_INPUT'], field: 'endsAt' });
    const far = await delegate(new Date(), '+275760-09-13T00:00:00Z');
    expect(codes(far)).toEqual(['BAD_USER_INPUT']);
    expect(far.errors![0].message).toMatch(/DateTime \+275760-09-13T00:00:00Z is out of range: years 1900 to 2200 only/);
  });
});
