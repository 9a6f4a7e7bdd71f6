// Issue 13, point 2: an approved claim is always filed. A hostile-text corpus walks the real stack (oa, archive,
// sync, gateway) from claim to archive record: each text is refused at createExpenseClaim naming the field, or
// reaches a filed record, never a DEAD job. Text injected into oa's database (a claim stored before the policy) is
// filed with the problem in its record's filing report and an ARCHIVE_USABILITY alert; a job made DEAD by a
// fixable cause is corrected by ADMIN (recorded in the audit trail) and filed; nobody else may correct.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveRecordDoc } from '../../subgraphs/archive/models.ts';
import type { SyncJobDoc } from '../../subgraphs/sync/models.ts';
import { ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, type Org, SUBMIT } from '../oa/seed.ts';
import { ArchiveProxy } from './archive-proxy.ts';
import { type Stack, seed, startStack } from './stack.ts';

const proxy = new ArchiveProxy();
let stack: Stack;
let org: Org;

beforeAll(async () => {
  const url = await proxy.listen();
  stack = await startStack({ label: 'sync_hostile_text', archiveUrlForSync: url, sync: { maxAttempts: 2, retryBaseMs: 20, retryMaxMs: 40, alertRules: { ARCHIVE_USABILITY: { closeAfterMs: 0 } } } });
  proxy.target = stack.archiveUrl;
  org = await seed(stack);
}, 60_000);

afterAll(async () => {
  await stack?.close();
  proxy.server.close();
});

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const jobOf = (claimId: string) => stack.sync.services.models.SyncJob.findOne({ claimId }).lean<SyncJobDoc>();
const settled = (j: SyncJobDoc | null) => j?.status === 'SUCCEEDED' || j?.status === 'DEAD';
const recordOf = (id: string) => stack.connection.collection<ArchiveRecordDoc>('archive_records').findOne({ _id: new (stack.connection.base.Types.ObjectId)(id) });

interface Case {
  name: string;
  title: string;
  description: string;
  /** The field createExpenseClaim names when it refuses; null: the claim is filed. */
  refused: string | null;
}

const CORPUS: Case[] = [
  { name: 'a tab in the title', title: 'Taxi\tShanghai', description: 'ride', refused: 'title' },
  { name: 'a line feed in the title', title: 'Taxi\nShanghai', description: 'ride', refused: 'title' },
  { name: 'NUL in a description', title: 'Taxi', description: 'ride\u0000home', refused: 'items[0].description' },
  { name: 'a bidi override', title: 'Invoice \u202Egnp.exe', description: 'ride', refused: 'title' },
  { name: 'a lone surrogate', title: 'Taxi \uD800', description: 'ride', refused: 'title' },
  { name: 'a 2,000-character title', title: '差'.repeat(2000), description: 'ride', refused: 'title' },
  { name: 'emoji with ZWJ', title: 'Team dinner 👨‍👩‍👧‍👦 🏳️‍🌈', description: 'dinner 🧑🏽‍💻', refused: null },
  { name: 'RTL Arabic and Hebrew', title: 'رحلة عمل إلى دبي', description: 'נסיעה לתל אביב', refused: null },
  { name: 'CJK punctuation', title: '差旅费：上海→北京（往返）、住宿费。「会议」', description: '高铁票《二等座》；', refused: null },
  { name: 'full-width digits', title: '出租车费 ２０２６年１１月', description: '金额１２３元', refused: null },
  { name: 'a tab and line feed in a description (multi-line)', title: 'Taxi', description: 'line one\n\tline two', refused: null },
];

async function createClaim(title: string, description: string) {
  return stack.oa.gql<{ createExpenseClaim: { id: string; claimNo: string } }>(org.as.alice, CREATE_CLAIM, {
    input: { title, category: 'TRAVEL', items: [{ description, amount: '12.30', occurredOn: '2026-11-01' }] },
  });
}

async function approve(id: string): Promise<void> {
  ok(await stack.oa.gql(org.as.alice, SUBMIT, { id }));
  ok(await stack.oa.gql(org.as.salesManager, DECIDE, { id, d: 'APPROVE' }));
  ok(await stack.oa.gql(org.as.accountant, DECIDE, { id, d: 'APPROVE' }));
}

describe('the hostile-text corpus from claim to archive record', () => {
  it.each(CORPUS)('$name: refused at creation naming the field, or filed', async ({ title, description, refused }) => {
    const created = await createClaim(title, description);
    if (refused) {
      expect(created.data?.createExpenseClaim ?? null).toBeNull();
      expect(created.errors?.map((e) => [e.extensions?.code, (e.extensions as { field?: string }).field])).toEqual([['BAD_USER_INPUT', refused]]);
      return;
    }
    const claim = ok(created).createExpenseClaim;
    await approve(claim.id);
    const job = await until(() => jobOf(claim.id), settled);
    expect(job!.status).toBe('SUCCEEDED');
    const record = (await recordOf(job!.archiveRecordId!))!;
    expect(record.title.endsWith(` ${title.normalize('NFC')}`)).toBe(true);
    expect(record.filingReport?.passed).toBe(true);
    expect(job!.usabilityProblems ?? []).toEqual([]);
  });

  it('files a claim with pre-policy text (injected into the database) with the problem reported and an alert raised', async () => {
    const claim = ok(await createClaim('Taxi', 'ride')).createExpenseClaim;
    // A claim stored before the text policy existed: its texts never passed it.
    await stack.connection.collection('expense_claims').updateOne(
      { _id: new stack.connection.base.Types.ObjectId(claim.id) },
      { $set: { title: 'Taxi\tShanghai', 'items.0.description': 'ride\u0000home' } },
    );
    await approve(claim.id);
    const job = await until(() => jobOf(claim.id), settled);
    expect(job!.status).toBe('SUCCEEDED');
    const record = (await recordOf(job!.archiveRecordId!))!;
    expect(record.title).toMatch(/^记账凭证 记-\d{4}-\d{2}-\d{4} Taxi\tShanghai$/);
    const failed = record.filingReport!.results.filter((r) => !r.passed);
    expect(record.filingReport!.passed).toBe(false);
    expect(failed.map((r) => `${r.property} ${r.check}`)).toEqual(['USABILITY metadata-readable']);
    expect(failed[0].detail).toBe(
      'title contains the control character U+0009 at position 24; source claim title contains the control character U+0009 at position 5; ' +
        'source claim items[0].description contains the control character U+0000 at position 5',
    );
    expect(job!.usabilityProblems).toEqual([`USABILITY metadata-readable: ${failed[0].detail}`]);

    // The monitor raises one ARCHIVE_USABILITY alert for the record, and not again once resolved.
    await stack.sync.services.monitor.evaluate();
    const Alert = stack.sync.services.ops.Alert;
    const alerts = await Alert.find({ rule: 'ARCHIVE_USABILITY', subject: `record:${job!.archiveRecordId}` }).lean();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'WARNING', status: 'OPEN' });
    expect(alerts[0].message).toContain(`The archive record of ${claim.claimNo} was filed with usability problems in the claim's texts: USABILITY metadata-readable: title contains`);
    // The problem stays in the filed record: the system never closes the alert, even with no close delay.
    await stack.sync.services.monitor.evaluate();
    expect(await Alert.findById(alerts[0]._id).lean()).toMatchObject({ status: 'OPEN', count: 1 });
    await stack.sync.services.alerts.resolve(alerts[0]._id.toHexString(), 'admin', 'title kept as filed');
    await stack.sync.services.monitor.evaluate();
    expect(await Alert.countDocuments({ rule: 'ARCHIVE_USABILITY', subject: `record:${job!.archiveRecordId}` })).toBe(1);
  });

  it('lets ADMIN correct a DEAD job caused by a fixable cause, then files it; the correction is in the audit trail; others are FORBIDDEN', async () => {
    const claim = ok(await createClaim('Taxi', 'ride')).createExpenseClaim;
    await stack.connection.collection('expense_claims').updateOne({ _id: new stack.connection.base.Types.ObjectId(claim.id) }, { $set: { title: 'Taxi\u202EShanghai' } });
    // The fixable cause: an archive that refuses the claim for good (as one that refused such a title did).
    proxy.mode = 'refuse';
    await approve(claim.id);
    const dead = await until(() => jobOf(claim.id), settled);
    expect(dead!.status).toBe('DEAD');
    proxy.mode = 'forward';

    const CORRECT = `mutation($id: ID!, $c: SyncJobCorrectionInput!, $r: String!) {
      correctSyncJob(id: $id, correction: $c, reason: $r) { id status corrections { title applicantName items { index description } reason correctedBy } }
    }`;
    const id = dead!._id.toHexString();
    const variables = { id, c: { title: 'Taxi Shanghai', items: [{ index: 0, description: 'ride home' }] }, r: 'bidi override removed from the title' };
    const accountant = await stack.token(org.ids.accountant, ['ACCOUNTANT']);
    const refused = await stack.gql(accountant, CORRECT, variables);
    expect(refused.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect((await jobOf(claim.id))!.corrections ?? []).toEqual([]);

    const admin = await stack.token('admin-1', ['ADMIN']);
    // The correction passes the text policy too.
    const hostile = await stack.gql(admin, CORRECT, { ...variables, c: { title: 'Taxi\tShanghai' } });
    expect(hostile.errors?.map((e) => [e.extensions?.code, (e.extensions as { field?: string }).field])).toEqual([['BAD_USER_INPUT', 'correction.title']]);
    const outOfRange = await stack.gql(admin, CORRECT, { ...variables, c: { items: [{ index: 3, description: 'x' }] } });
    expect(outOfRange.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);

    const corrected = await stack.gql<{ correctSyncJob: { corrections: unknown[] } }>(admin, CORRECT, variables);
    expect(corrected.errors).toBeUndefined();
    expect(corrected.data!.correctSyncJob.corrections).toEqual([
      { title: 'Taxi Shanghai', applicantName: null, items: [{ index: 0, description: 'ride home' }], reason: 'bidi override removed from the title', correctedBy: 'admin-1' },
    ]);
    const job = await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED');
    const record = (await recordOf(job!.archiveRecordId!))!;
    expect(record.title).toMatch(/^记账凭证 记-\d{4}-\d{2}-\d{4} Taxi Shanghai$/);
    expect(record.filingReport!.passed).toBe(true);
    // Correcting a job that is not DEAD or FAILED is a conflict.
    expect((await stack.gql(admin, CORRECT, variables)).errors?.map((e) => e.extensions?.code)).toEqual(['CONFLICT']);

    const audit = await until(
      () => stack.connection.collection('audit_log').find({ action: { $regex: '^(correctSyncJob|mutation correctSyncJob)' } }).toArray(),
      // The gateway's entry of the request and the sync service's of what it corrected.
      (entries) => entries.some((e) => String(e.action).startsWith('correctSyncJob')) && entries.filter((e) => e.action === 'mutation correctSyncJob').length >= 5,
    );
    expect(audit.find((e) => String(e.action).startsWith('correctSyncJob'))).toMatchObject({
      actor: 'admin-1',
      roles: ['ADMIN'],
      action: `correctSyncJob for ${claim.claimNo}: title, items.0.description`,
      outcome: 'OK',
    });
    expect(audit.filter((e) => e.action === 'mutation correctSyncJob').map((e) => [e.actor, e.outcome])).toEqual([
      [org.ids.accountant, 'FORBIDDEN'], ['admin-1', 'BAD_USER_INPUT'], ['admin-1', 'BAD_USER_INPUT'], ['admin-1', 'OK'], ['admin-1', 'CONFLICT'],
    ]);
    // Nothing in the corpus, the injected claim or the corrected one is left DEAD.
    expect(await stack.sync.services.models.SyncJob.countDocuments({ status: 'DEAD' })).toBe(0);
  });
});
