// The text policy at the oa subgraph's edge (platform/text-policy.ts), over HTTP: hostile text is refused with
// BAD_USER_INPUT naming the field and nothing is stored; right-to-left text and emoji are stored as NFC.
import { describe, expect, it } from 'vitest';
import { ADMIN, type GqlResult, codes, ok, useOaSubgraph } from './fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, seedOrg } from './seed.ts';

const oa = useOaSubgraph('oa_text_inputs');

const fieldOf = (r: GqlResult) => (r.errors ?? []).map((e) => [e.extensions?.code, (e.extensions as { field?: string } | undefined)?.field, e.message]);

describe('free text at the oa edge', () => {
  it('refuses a claim whose title or description holds control characters, bidi overrides or broken Unicode, storing nothing', async () => {
    const org = await seedOrg(oa, '-tx');
    const file = (title: string, description = 'Taxi') =>
      oa.gql(org.as.alice, CREATE_CLAIM, { input: { title, category: 'TRAVEL', items: [{ ...item('88.00'), description }] } });

    expect(fieldOf(await file('Taxi\tShanghai\nairport'))).toEqual([['BAD_USER_INPUT', 'title', 'title contains the control character U+0009 at position 5']]);
    expect(fieldOf(await file('Taxi\u0000'))).toEqual([['BAD_USER_INPUT', 'title', 'title contains the control character U+0000 at position 5']]);
    expect(fieldOf(await file('invoice\u202Efdp.exe'))).toEqual([['BAD_USER_INPUT', 'title', 'title contains the bidirectional control U+202E at position 8']]);
    // JSON carries a lone surrogate as the escape \ud800, which the server decodes to broken UTF-16.
    expect(fieldOf(await file('Taxi \uD800'))).toEqual([['BAD_USER_INPUT', 'title', 'title contains an unpaired surrogate U+D800 at position 6']]);
    expect(fieldOf(await file('Taxi', 'Airport\u0007'))).toEqual([['BAD_USER_INPUT', 'items[0].description', 'items[0].description contains the control character U+0007 at position 8']]);
    expect(codes(await file('x'.repeat(201)))).toEqual(['BAD_USER_INPUT']);
    expect(await oa.services.models.ExpenseClaim.countDocuments({ applicantId: org.ids.alice })).toBe(0);

    // A line break is allowed in a description, not in a title.
    const rtl = 'رحلة عمل إلى دبي 👩‍💻';
    const created = ok(await file(`  ${rtl} Cafe\u0301  `, 'Line one\n\tline two — 「高铁」１２号'));
    const id = (created.createExpenseClaim as { id: string }).id;
    const stored = await oa.services.models.ExpenseClaim.findById(id).lean();
    expect(stored!.title).toBe(`${rtl} Café`);
    expect(stored!.title.normalize('NFC')).toBe(stored!.title);
    expect(stored!.items[0].description).toBe('Line one\n\tline two — 「高铁」１２号');
    const read = ok(await oa.gql<{ expenseClaim: { title: string } }>(org.as.alice, 'query($id: ID!) { expenseClaim(id: $id) { title } }', { id }));
    expect(read.expenseClaim.title).toBe(`${rtl} Café`);
  });

  it('refuses hostile approval comments and names, and stores accepted ones normalised', async () => {
    const org = await seedOrg(oa, '-tc');
    const created = ok(await oa.gql<{ createExpenseClaim: { id: string } }>(org.as.bob, CREATE_CLAIM, { input: { title: 'Hotel', category: 'TRAVEL', items: [item('120.00')] } }));
    const id = created.createExpenseClaim.id;
    ok(await oa.gql(org.as.bob, SUBMIT, { id }));
    expect(fieldOf(await oa.gql(org.as.salesManager, DECIDE, { id, d: 'APPROVE', c: 'ok \u2066hidden\u2069' }))).toEqual([
      ['BAD_USER_INPUT', 'comment', 'comment contains the bidirectional control U+2066 at position 4'],
    ]);
    const decided = ok(await oa.gql<{ decideApproval: { approval: { steps: Array<{ decisions: Array<{ comment: string | null }> }> } } }>(org.as.salesManager, DECIDE, { id, d: 'APPROVE', c: 'Approved,\nfine 👍🏽 re\u0301sume\u0301' }));
    expect(decided.decideApproval.approval.steps[0].decisions[0].comment).toBe('Approved,\nfine 👍🏽 résumé');

    const rename = 'mutation($id: ID!, $input: UpdateEmployeeInput!) { updateEmployee(id: $id, input: $input) { name } }';
    expect(fieldOf(await oa.gql(ADMIN, rename, { id: org.ids.alice, input: { name: 'Alice\nAdmin' } }))).toEqual([
      ['BAD_USER_INPUT', 'name', 'name contains the control character U+000A at position 6'],
    ]);
    expect(ok(await oa.gql<{ updateEmployee: { name: string } }>(ADMIN, rename, { id: org.ids.alice, input: { name: 'אליס כהן' } })).updateEmployee.name).toBe('אליס כהן');
    const dept = 'mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id } }';
    expect(fieldOf(await oa.gql(ADMIN, dept, { input: { code: 'BIDI-tc', name: 'Sales\u202E' } }))).toEqual([
      ['BAD_USER_INPUT', 'name', 'name contains the bidirectional control U+202E at position 6'],
    ]);
    expect(await oa.services.models.Department.countDocuments({ code: 'BIDI-tc' })).toBe(0);
  });
});
