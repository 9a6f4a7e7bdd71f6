// updateExpenseClaim (issue 17 §1) through the gateway: a DRAFT changed by its applicant, its total recomputed to
// the fen, its invoices booked again and its files swapped (a file dropped goes back to the applicant's uploads and
// expires as one); every refusal changes nothing.
import { type Db, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttachmentStore } from '../../subgraphs/oa/attachments/store.ts';
import { type Org, item } from './seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';

const PDF = (n: number) => Buffer.from(`%PDF-1.7\n1 0 obj << /Type /Catalog /N ${n} >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`);
const CREATE = `mutation($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { id claimNo } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateExpenseClaimInput!) {
  updateExpenseClaim(id: $id, input: $input) { id claimNo status title category total items { description amount invoiceNo attachments { id } } }
}`;
const SUBMIT = `mutation($id: ID!) { submitExpenseClaim(id: $id) { status } }`;

interface Updated {
  id: string;
  claimNo: string;
  status: string;
  title: string;
  category: string;
  total: string;
  items: { description: string; amount: string; invoiceNo: string | null; attachments: { id: string }[] }[];
}

let stack: Stack;
let org: Org;
let alice: string;
let bob: string;
let base: string;
const db = () => stack.connection.db as unknown as Db;
const fileMeta = async (id: string) => (await db().collection('attachments.files').findOne({ _id: new ObjectId(id) }))?.metadata as Record<string, unknown> | undefined;

async function upload(token: string, name: string, bytes: Buffer): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const res = await fetch(`${base}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const body = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.id;
}

async function draft(items: unknown[]): Promise<{ id: string; claimNo: string }> {
  const r = await stack.gql<{ createExpenseClaim: { id: string; claimNo: string } }>(alice, CREATE, { input: { title: 'Trip', category: 'TRAVEL', items } });
  expect(r.errors).toBeUndefined();
  return r.data!.createExpenseClaim;
}

const update = (token: string, id: string, input: Record<string, unknown>) => stack.gql<{ updateExpenseClaim: Updated }>(token, UPDATE, { id, input });

beforeAll(async () => {
  stack = await startStack({ label: 'claim-update' });
  org = await seed(stack);
  base = stack.gateways[0].url.replace(/\/graphql$/, '');
  alice = await stack.token(org.ids.alice);
  bob = await stack.token(org.ids.bob);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('updateExpenseClaim', () => {
  it('changes a draft: title, category, items and their exact total; a dropped file goes back to the uploads, a kept one stays, a new one is bound', async () => {
    const kept = await upload(alice, 'kept.pdf', PDF(1));
    const dropped = await upload(alice, 'dropped.pdf', PDF(2));
    const added = await upload(alice, 'added.pdf', PDF(3));
    const claim = await draft([{ ...item('10.10'), attachmentIds: [kept, dropped] }]);
    expect(await fileMeta(dropped)).toMatchObject({ claimId: claim.id, expiresAt: null });

    const before = Date.now();
    const r = await update(alice, claim.id, {
      title: 'Trip to Shanghai',
      category: 'TRAINING',
      items: [{ ...item('0.10'), attachmentIds: [kept] }, { ...item('1234.56'), attachmentIds: [added] }, item('0.01')],
    });
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    const u = r.data!.updateExpenseClaim;
    expect(u).toMatchObject({ id: claim.id, claimNo: claim.claimNo, status: 'DRAFT', title: 'Trip to Shanghai', category: 'TRAINING', total: '1234.67' });
    expect(u.items.map((i) => [i.amount, i.attachments.map((a) => a.id)])).toEqual([['0.10', [kept]], ['1234.56', [added]], ['0.01', []]]);
    expect(await fileMeta(kept)).toMatchObject({ claimId: claim.id, expiresAt: null });
    expect(await fileMeta(added)).toMatchObject({ claimId: claim.id, expiresAt: null });
    const back = await fileMeta(dropped);
    expect(back).toMatchObject({ claimId: null, ownerId: org.ids.alice });
    // It expires a day from the change, as a fresh upload would, and the sweeper takes it then.
    const expiresAt = (back!.expiresAt as Date).getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(before + 24 * 3_600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000);
    const later = new AttachmentStore(stack.connection, {}, () => new Date(Date.now() + 25 * 3_600_000));
    while ((await later.sweep(100)) > 0);
    expect(await fileMeta(dropped)).toBeUndefined();
    expect(await fileMeta(kept)).toMatchObject({ claimId: claim.id });

    // Only the title: the items, their files and the total stay.
    const titled = await update(alice, claim.id, { title: 'Trip to Shanghai (2 nights)' });
    expect(titled.errors).toBeUndefined();
    expect(titled.data!.updateExpenseClaim).toMatchObject({ title: 'Trip to Shanghai (2 nights)', category: 'TRAINING', total: '1234.67' });
    expect(titled.data!.updateExpenseClaim.items.map((i) => i.attachments.map((a) => a.id))).toEqual([[kept], [added], []]);
  });

  it('books the invoices again: an item keeps its own, a dropped one is free for another claim, one booked elsewhere is CONFLICT and changes nothing', async () => {
    const suffix = String(Date.now()).slice(-8);
    const claim = await draft([item('5.00', `INV-A-${suffix}`), item('6.00', `INV-B-${suffix}`)]);
    const other = await draft([item('7.00', `INV-C-${suffix}`)]);
    const r = await update(alice, claim.id, { items: [item('5.00', `INV-A-${suffix}`), item('8.00', `INV-D-${suffix}`)] });
    expect(r.errors).toBeUndefined();
    expect(r.data!.updateExpenseClaim.items.map((i) => i.invoiceNo)).toEqual([`INV-A-${suffix}`, `INV-D-${suffix}`]);
    const bookings = db().collection('invoice_bookings');
    expect((await bookings.find({ claimId: claim.id }).sort({ _id: 1 }).toArray()).map((b) => b._id)).toEqual([`INV-A-${suffix}`, `INV-D-${suffix}`]);
    // B was freed: another claim may now carry it.
    const takesB = await update(alice, other.id, { items: [item('7.00', `INV-C-${suffix}`), item('6.00', `INV-B-${suffix}`)] });
    expect(takesB.errors).toBeUndefined();
    // D is this claim's now: the other claim cannot take it, and its own items stay as they were.
    const takesD = await update(alice, other.id, { title: 'Changed?', items: [item('9.00', `INV-D-${suffix}`)] });
    expect(takesD.errors![0].extensions).toMatchObject({ code: 'CONFLICT' });
    expect(takesD.errors![0].message).toContain(claim.claimNo);
    expect((await bookings.find({ claimId: other.id }).sort({ _id: 1 }).toArray()).map((b) => b._id)).toEqual([`INV-B-${suffix}`, `INV-C-${suffix}`]);
    const stored = await db().collection('expense_claims').findOne({ _id: new ObjectId(other.id) });
    expect(stored!.title).toBe('Trip');
    expect(stored!.totalFen).toBe(1300);
  });

  it('refuses a claim not the caller’s, a submitted one, nothing to change and a bad item, and leaves the claim and its files as they were', async () => {
    const file = await upload(alice, 'mine.pdf', PDF(4));
    const claim = await draft([{ ...item('3.00'), attachmentIds: [file] }]);
    const bobsFile = await upload(bob, 'bob.pdf', PDF(5));
    const code = (r: { errors?: { extensions?: { code?: string; field?: string } }[] }) => r.errors?.[0]?.extensions;

    // A colleague does not see it at all; her manager sees it and may not change it.
    expect(code(await update(bob, claim.id, { title: 'Mine now' }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(code(await update(await stack.token(org.ids.salesManager), claim.id, { title: 'Approved by me' }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(code(await update(alice, new ObjectId().toHexString(), { title: 'x' }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(code(await update(alice, claim.id, {}))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    expect(code(await update(alice, claim.id, { items: [] }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'items' });
    expect(code(await update(alice, claim.id, { items: [item('-1.00')] }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'items[0].amount' });
    // Another's upload, as an unknown id: refused in the transaction, so the release of `file` before it is undone.
    expect(code(await update(alice, claim.id, { items: [{ ...item('3.00'), attachmentIds: [bobsFile] }] }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'items[0].attachmentIds[0]' });
    expect(await fileMeta(file)).toMatchObject({ claimId: claim.id, expiresAt: null });
    expect(await fileMeta(bobsFile)).toMatchObject({ claimId: null, ownerId: org.ids.bob });

    expect((await stack.gql<{ submitExpenseClaim: { status: string } }>(alice, SUBMIT, { id: claim.id })).data?.submitExpenseClaim.status).toBe('SUBMITTED');
    const late = await update(alice, claim.id, { title: 'Too late' });
    expect(code(late)).toMatchObject({ code: 'CONFLICT' });
    expect(late.errors![0].message).toContain('only a DRAFT can be changed');
    const stored = await db().collection('expense_claims').findOne({ _id: new ObjectId(claim.id) });
    expect(stored).toMatchObject({ title: 'Trip', totalFen: 300, status: 'SUBMITTED' });
    expect(await fileMeta(file)).toMatchObject({ claimId: claim.id, expiresAt: null });
  });
});
