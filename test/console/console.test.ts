// The console end to end: the whole stack in process, the console served by the gateway's HTTP server,
// driven in headless Chromium through playwright-core (test/helpers/browser.ts: the system's or the npm package's). Sign in with an ADMIN's token, see a
// claim approved through the API arrive live as CLAIM_APPROVED, VOUCHER_CREATED and ARCHIVE_FILED, retry a DEAD
// sync job and see it succeed, trace the claim, handle an alert raised live, draw the charts, and take a screenshot
// that is a real picture; then per role: an AUDITOR reads without buttons, an EMPLOYEE sees only their own and
// sends feedback, the ADMIN handles it; lists page; every view is photographed and the pictures checked.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { launchBrowser } from '../helpers/browser.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONSOLE_SECURITY_HEADERS, consoleRoutes } from '../../gateway/console.ts';
import { ADMIN, ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, type Org } from '../oa/seed.ts';
import { monthsBetween } from '../../console/src/months.ts';
import { EARLIER_PAGE, JOB_PAGE } from '../../console/src/page-sizes.ts';
import { ArchiveProxy } from '../sync/archive-proxy.ts';
import { type Stack, approvedClaim, seed, startStack } from '../sync/stack.ts';


const proxy = new ArchiveProxy();
let stack: Stack;
let org: Org;
let origin: string;
let adminToken: string;
let operatorId: string;
let browser: Browser;
let page: Page;
/** What the page reported: uncaught errors, console errors (CSP violations among them). */
const pageProblems: string[] = [];

/** Why the browser tests cannot run: each of them fails with it (none is skipped). */
let browserError: Error | null = null;

beforeAll(async () => {
  const proxyUrl = await proxy.listen();
  stack = await startStack({ label: 'console_e2e', console: true, archiveUrlForSync: proxyUrl, sync: { maxAttempts: 2, retryBaseMs: 50, retryMaxMs: 100 } });
  proxy.target = stack.archiveUrl;
  org = await seed(stack);
  // A real employee with the ADMIN role (created through the oa subgraph), as an operator would be.
  operatorId = ok(
    await stack.oa.gql<{ createEmployee: { id: string } }>(ADMIN, `mutation($input: CreateEmployeeInput!) { createEmployee(input: $input) { id } }`, {
      input: { employeeNo: 'OPS-001', name: 'Olive Operator', departmentId: org.hq, roles: ['ADMIN'] },
    }),
  ).createEmployee.id;
  adminToken = await stack.token(operatorId, ['ADMIN']);
  origin = new URL(stack.gateways[0].url).origin;
  try {
    browser = await launchBrowser();
  } catch (err) {
    browserError = err as Error;
    return;
  }
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) pageProblems.push(`console: ${msg.text()}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  proxy.server.close();
});

/** Creates a claim as Alice and takes it through both approvals, all through the gateway. */
async function approveThroughApi(amount: string, invoiceNo: string): Promise<{ id: string; claimNo: string }> {
  const [alice, manager, accountant] = await Promise.all([stack.token(org.ids.alice), stack.token(org.ids.salesManager), stack.token(org.ids.accountant)]);
  const created = await stack.gql<{ createExpenseClaim: { id: string; claimNo: string } }>(alice, CREATE_CLAIM, { input: { title: 'Console trip', category: 'TRAVEL', items: [item(amount, invoiceNo)] } });
  expect(created.errors).toBeUndefined();
  const claim = created.data!.createExpenseClaim;
  expect((await stack.gql(alice, SUBMIT, { id: claim.id })).errors).toBeUndefined();
  expect((await stack.gql(manager, DECIDE, { id: claim.id, d: 'APPROVE' })).errors).toBeUndefined();
  const decided = await stack.gql<{ decideApproval: { status: string } }>(accountant, DECIDE, { id: claim.id, d: 'APPROVE' });
  expect(decided.data?.decideApproval.status).toBe('APPROVED');
  return claim;
}

async function jobOf(claimId: string): Promise<{ id: string; status: string } | undefined> {
  const r = await stack.gql<{ syncJobs: { id: string; status: string; claim: { id: string } }[] }>(adminToken, `{ syncJobs(first: 200) { id status claim { id } } }`);
  expect(r.errors).toBeUndefined();
  return r.data!.syncJobs.find((j) => j.claim.id === claimId);
}

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the console route', () => {
  it('serves the page, the script and the stylesheet with strict headers and nothing inline', async () => {
    for (const path of ['/console', '/console/']) {
      const res = await fetch(origin + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) expect(res.headers.get(name)).toBe(value);
      expect(res.headers.get('content-security-policy')).toBe("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'");
      const html = await res.text();
      expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script src="/console/app.js" defer>']);
      expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|https?:\/\//i);
    }
    const js = await fetch(`${origin}/console/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    const body = await js.text();
    expect(body.length).toBeGreaterThan(5_000);
    expect(body.length).toBeLessThan(200_000);
    expect(body).not.toContain('innerHTML');
    const css = await fetch(`${origin}/console/app.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    // Revalidation, other methods, other paths.
    expect((await fetch(`${origin}/console/app.js`, { headers: { 'if-none-match': js.headers.get('etag')! } })).status).toBe(304);
    expect((await fetch(`${origin}/console`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${origin}/console/nope.js`)).status).toBe(404);
  });
});

describe('a console that cannot be built', () => {
  it('answers 500 without internals, and logs why', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    const routes = consoleRoutes({ logger, root: join(tmpdir(), 'no-such-console-sources') });
    const server = createServer((req, res) => void (routes(req, res) || res.writeHead(418).end()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await fetch(`${base}/console`);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_SECURITY_HEADERS['content-security-policy']);
      const body = await res.text();
      expect(body).toBe('The console is unavailable (see the server log).');
      expect(lines.join('\n')).toContain('console build failed');
      expect((await fetch(`${base}/graphql`)).status).toBe(418); // not the console's
      expect(await routes.warm()).toBe(false);
    } finally {
      server.close();
    }
  });
});

describe('the console in Chromium', () => {
  beforeEach(() => {
    if (browserError) throw browserError;
  });

  it('refuses bad tokens clearly, then signs an ADMIN in with the token in sessionStorage only', async () => {
    await page.goto(`${origin}/console`);
    await page.locator('#sign-in').waitFor({ state: 'visible' });

    await page.fill('#token', 'not a token');
    await page.click('#sign-in-button');
    await expect.poll(() => page.textContent('#sign-in-message'), { timeout: 10_000 }).toContain('That is not a token');

    const forged = `${adminToken.slice(0, adminToken.lastIndexOf('.'))}.AAAA`;
    await page.fill('#token', forged);
    await page.click('#sign-in-button');
    await expect.poll(() => page.textContent('#sign-in-message'), { timeout: 10_000 }).toContain('UNAUTHENTICATED');

    await page.fill('#token', adminToken);
    await page.click('#sign-in-button');
    await page.locator('#app').waitFor({ state: 'visible' });
    await expect.poll(() => page.textContent('#whoami'), { timeout: 10_000 }).toContain('Olive Operator');
    expect(await page.evaluate('({ session: Object.values(sessionStorage), local: localStorage.length })')).toEqual({ session: [adminToken], local: 0 });
    expect(await page.isVisible('#sign-in')).toBe(false);
  }, 60_000);

  it('shows a claim approved through the API live: CLAIM_APPROVED, VOUCHER_CREATED, ARCHIVE_FILED, newest on top', async () => {
    await page.locator('#view-events .live-state[data-state="live"]').waitFor({ timeout: 15_000 });
    const claim = await approveThroughApi('88.00', 'INV-CONSOLE-1');
    const rows = page.locator(`#events-table tr[data-claim-id="${claim.id}"]`);
    await page.locator(`#events-table tr[data-claim-id="${claim.id}"][data-type="ARCHIVE_FILED"]`).waitFor({ timeout: 15_000 });
    const types = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-type')));
    expect(types).toEqual(['ARCHIVE_FILED', 'VOUCHER_CREATED', 'CLAIM_APPROVED', 'CLAIM_SUBMITTED']);
    const approvedRow = await page.textContent(`#events-table tr[data-claim-id="${claim.id}"][data-type="CLAIM_APPROVED"]`);
    expect(approvedRow).toContain(claim.claimNo);
    const seqs = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-seq') ?? ''));
    expect([...seqs].sort().reverse()).toEqual(seqs);
  }, 60_000);

  it('retries a DEAD sync job with the Retry button, and the job succeeds once the archive answers again', async () => {
    proxy.mode = 'down';
    const claim = await approveThroughApi('99.00', 'INV-CONSOLE-2');
    const dead = await until(() => jobOf(claim.id), (j) => j?.status === 'DEAD');
    const row = page.locator(`#jobs-table tr[data-job-id="${dead!.id}"]`);
    // The list refreshes every 10 s; Refresh shows it at once.
    await expect
      .poll(
        async () => {
          await page.click('#view-jobs .panel-head button.secondary');
          return row.getAttribute('data-status', { timeout: 1000 }).catch(() => null);
        },
        { timeout: 15_000, interval: 300 },
      )
      .toBe('DEAD');
    // The failures were live too.
    await page.locator(`#events-table tr[data-claim-id="${claim.id}"][data-type="SYNC_FAILED"]`).first().waitFor({ timeout: 10_000 });

    proxy.mode = 'forward';
    await row.locator('button.retry').click();
    await expect.poll(() => row.locator('.job-result').textContent().catch(() => ''), { timeout: 10_000 }).toMatch(/Retry accepted|Retried/);
    await page.locator(`#jobs-table tr[data-job-id="${dead!.id}"][data-status="SUCCEEDED"]`).waitFor({ timeout: 15_000 });
    expect((await jobOf(claim.id))?.status).toBe('SUCCEEDED');
    await page.locator(`#events-table tr[data-claim-id="${claim.id}"][data-type="ARCHIVE_FILED"]`).waitFor({ timeout: 10_000 });

    // Trace it from the job's row: every event of the claim, in order, failures included.
    await page.locator(`#jobs-table tr[data-job-id="${dead!.id}"] button.link`).click();
    await page.locator('#trace-events li[data-type="ARCHIVE_FILED"]').waitFor({ timeout: 10_000 });
    const trace = await page.locator('#trace-events li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-type')));
    expect(trace).toEqual(['CLAIM_SUBMITTED', 'CLAIM_APPROVED', 'SYNC_FAILED', 'SYNC_FAILED', 'VOUCHER_CREATED', 'ARCHIVE_FILED']);
    expect(await page.textContent('#trace-output')).toContain(claim.claimNo);
  }, 90_000);

  it('shows an alert as it is raised, and acknowledges it, runs its action and resolves it', async () => {
    proxy.mode = 'down';
    const claim = await approveThroughApi('77.00', 'INV-CONSOLE-3');
    const dead = await until(() => jobOf(claim.id), (j) => j?.status === 'DEAD');
    proxy.mode = 'forward';
    await stack.sync.services.monitor.evaluate();
    // Live (the list itself reloads only every 30 s).
    const card = page.locator('#alert-list article').filter({ hasText: `job:${dead!.id}` });
    await card.waitFor({ timeout: 15_000 });
    expect(await card.getAttribute('data-status')).toBe('OPEN');
    expect(await card.textContent()).toContain('SYNC_JOB_DEAD');

    await card.locator('button.acknowledge').click();
    await expect.poll(() => card.getAttribute('data-status'), { timeout: 10_000 }).toBe('ACKNOWLEDGED');
    await card.locator('button.run-action[data-kind="RETRY_SYNC_JOB"]').click();
    await expect.poll(() => card.locator('.note').textContent().catch(() => ''), { timeout: 10_000 }).toContain('Ran ');
    await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED');

    await card.locator('input.resolution').fill('archive back <b>up</b>; job retried');
    await card.locator('button.resolve').click();
    await expect.poll(() => page.textContent('#view-alerts'), { timeout: 10_000 }).toContain('Resolved: SYNC_JOB_DEAD');
    await card.waitFor({ state: 'detached' });
    const resolved = await stack.gql<{ alerts: { subject: string; resolution: string; resolvedBy: string; acknowledgedBy: string }[] }>(adminToken, `{ alerts(status: RESOLVED) { subject resolution resolvedBy acknowledgedBy } }`);
    expect(resolved.data!.alerts).toContainEqual({ subject: `job:${dead!.id}`, resolution: 'archive back <b>up</b>; job retried', resolvedBy: operatorId, acknowledgedBy: operatorId });
    // Shown as text, never as markup.
    await page.selectOption('#alerts-status', 'RESOLVED');
    await expect.poll(() => page.locator('#alert-list').textContent(), { timeout: 10_000 }).toContain('archive back <b>up</b>; job retried');
    expect(await page.locator('#alert-list b').count()).toBe(0);
    await page.selectOption('#alerts-status', 'UNRESOLVED');
  }, 90_000);

  it('pages through the sync jobs: Older and Newer, no job twice', async () => {
    const count = async () => (await stack.gql<{ syncJobs: { id: string }[] }>(adminToken, `{ syncJobs(first: 200) { id } }`)).data!.syncJobs.length;
    for (let n = await count(); n <= JOB_PAGE; n++) await approvedClaim(stack, org, `1${n}.00`);
    const all = (await stack.gql<{ syncJobs: { id: string }[] }>(adminToken, `{ syncJobs(first: 200) { id } }`)).data!.syncJobs.map((j) => j.id);
    const shown = () => page.locator('#jobs-table tr[data-job-id]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-job-id')!));
    await page.click('#view-jobs .panel-head button.secondary');
    await expect.poll(shown, { timeout: 10_000 }).toEqual(all.slice(0, JOB_PAGE));
    expect(await page.isDisabled('#jobs-previous')).toBe(true);
    await page.click('#jobs-next');
    await expect.poll(shown, { timeout: 10_000 }).toEqual(all.slice(JOB_PAGE, 2 * JOB_PAGE));
    expect(await page.textContent('#jobs-page')).toBe('page 2');
    await page.click('#jobs-previous');
    await expect.poll(shown, { timeout: 10_000 }).toEqual(all.slice(0, JOB_PAGE));
    await photograph(page, '#view-jobs', 'admin-jobs');
  }, 90_000);

  it('shows the ADMIN the last 24 h of probes, lag and backlog, the sync lag, and where expense figures need another role', async () => {
    // Two samples, then the page again (the history view reads once a minute).
    await stack.sync.services.sampler.sample();
    await stack.sync.services.sampler.sample();
    await page.reload();
    await page.locator('#app').waitFor({ state: 'visible' });
    await page.locator('#history-probes svg .strip-row[data-name="archive"] rect.cell-UP').first().waitFor({ timeout: 20_000 });
    await page.locator('#history-lag svg, #history-backlog svg').first().waitFor({ timeout: 10_000 });
    expect(await page.locator('#history-probes svg .strip-row').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-name')))).toEqual(['database', 'archive', 'oa']);
    await page.click('#view-charts button[type="submit"]');
    await page.locator('#chart-lag svg').waitFor({ timeout: 10_000 });
    expect(await page.textContent('#view-charts')).toContain('Expense figures over every claim need one of the roles ACCOUNTANT, FINANCE_DIRECTOR, AUDITOR');
    await photograph(page, '#view-history', 'admin-history');
    await photograph(page, '#view-charts', 'admin-charts');
  }, 60_000);

  it('looks like something: a full-page screenshot is a PNG of many colours', async () => {
    // The charts over the approvals so far: each is drawn, or says readably why it could not be.
    await page.click('#view-charts button[type="submit"]');
    for (const slot of ['#chart-department', '#chart-month', '#chart-lag']) {
      await page.locator(`${slot} svg, ${slot} .note-error, ${slot} .chart-empty`).first().waitFor({ timeout: 10_000 });
    }
    await page.evaluate('window.scrollTo(0, 0)');
    const png = await page.screenshot({ fullPage: true, type: 'png' });
    if (process.env.CONSOLE_SCREENSHOT) writeFileSync(process.env.CONSOLE_SCREENSHOT, png);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.length).toBeGreaterThan(20_000);
    const image = decodePng(png);
    expect(image.width).toBe(1400);
    expect(image.height).toBeGreaterThanOrEqual(1000);
    expect(image.colours).toBeGreaterThan(50);
    expect(pageProblems).toEqual([]);
  }, 60_000);

  it('lets an AUDITOR read everything without a button that would be refused, and draws every month of the period', async () => {
    const auditorPage = await signedIn(await stack.token(org.ids.auditor));
    try {
      await auditorPage.locator('#chart-department svg .bar').first().waitFor({ timeout: 10_000 });
      expect(await auditorPage.locator('#chart-department svg').textContent()).toContain('Sales');
      await auditorPage.locator('#chart-month svg .bar').first().waitFor({ timeout: 10_000 });
      const [from, to] = [await auditorPage.inputValue('#charts-from'), await auditorPage.inputValue('#charts-to')];
      const months = monthsBetween(from, to);
      expect(months.length).toBeGreaterThanOrEqual(6);
      // Empty months are drawn too (as zero), in order.
      expect(await auditorPage.locator('#chart-month svg .bar-col').count()).toBe(months.length);
      expect(await auditorPage.textContent('#whoami')).toContain('AUDITOR');
      expect(await auditorPage.textContent('#view-charts')).not.toContain('need one of the roles');
      // The system views, read only.
      await auditorPage.locator('#jobs-table tr[data-job-id]').first().waitFor({ timeout: 10_000 });
      await auditorPage.locator('#view-alerts .read-only').waitFor({ timeout: 10_000 });
      await auditorPage.locator('#history-probes svg').waitFor({ timeout: 20_000 });
      for (const refused of ['button.retry', 'button.acknowledge', 'button.resolve', 'button.run-action', '#feedback-inbox button.close', '#feedback-inbox button.tag']) {
        expect(await auditorPage.locator(refused).count(), refused).toBe(0);
      }
      // Paging back through the events that happened before the page opened (newest first, as live ones).
      await auditorPage.locator('#view-events .live-state[data-state="live"]').waitFor({ timeout: 15_000 });
      const types = await auditorPage.locator('#view-events .filters input:checked').evaluateAll((inputs) => inputs.map((i) => i.getAttribute('value')));
      const auditorToken = await stack.token(org.ids.auditor);
      const expected = (await stack.gql<{ syncEvents: { seq: string }[] }>(auditorToken, `query($t: [SyncEventType!]) { syncEvents(types: $t, first: 500) { seq } }`, { t: types })).data!.syncEvents.map((e) => e.seq).reverse();
      expect(expected.length).toBeGreaterThan(EARLIER_PAGE);
      const rows = () => auditorPage.locator('#events-table tr[data-seq]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-seq')));
      await auditorPage.click('#events-earlier');
      await expect.poll(rows, { timeout: 10_000 }).toEqual(expected.slice(0, EARLIER_PAGE));
      await auditorPage.click('#events-earlier');
      await expect.poll(rows, { timeout: 10_000 }).toEqual(expected.slice(0, 2 * EARLIER_PAGE));
      await auditorPage.locator('#feedback-inbox').waitFor({ timeout: 10_000 });
      // The months of this year and their close (issue 19 §5): none closed in this stack.
      await auditorPage.locator('#periods-table tr[data-period]').nth(11).waitFor({ timeout: 10_000 });
      const periods = await auditorPage.locator('#periods-table tr[data-period]').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-period'), tr.getAttribute('data-status')]));
      const year = new Date().getFullYear();
      expect(periods).toEqual(Array.from({ length: 12 }, (_, i) => [`${year}-${String(i + 1).padStart(2, '0')}`, 'OPEN']));
      for (const view of ['#view-status', '#view-history', '#view-jobs', '#view-alerts', '#view-charts', '#view-feedback']) await photograph(auditorPage, view, `auditor-${view.slice(6)}`);
      await photograph(auditorPage, null, 'auditor');
    } finally {
      await auditorPage.close();
    }
  }, 60_000);

  it('traces a claim with its original documents, and lets the AUDITOR download the archive’s copy', async () => {
    const alice = await stack.token(org.ids.alice);
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
    const uploaded = await fetch(`${origin}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="taxi receipt.pdf"' },
      body: pdf,
    });
    expect(uploaded.status).toBe(201);
    const file = (await uploaded.json()) as { id: string; sha256: string };
    const [manager, accountant] = await Promise.all([stack.token(org.ids.salesManager), stack.token(org.ids.accountant)]);
    const created = await stack.gql<{ createExpenseClaim: { id: string } }>(alice, CREATE_CLAIM, { input: { title: 'Taxi with receipt', category: 'TRAVEL', items: [{ ...item('42.00', 'INV-CONSOLE-FILE'), attachmentIds: [file.id] }] } });
    expect(created.errors).toBeUndefined();
    const claimId = created.data!.createExpenseClaim.id;
    expect((await stack.gql(alice, SUBMIT, { id: claimId })).errors).toBeUndefined();
    expect((await stack.gql(manager, DECIDE, { id: claimId, d: 'APPROVE' })).errors).toBeUndefined();
    expect((await stack.gql(accountant, DECIDE, { id: claimId, d: 'APPROVE' })).errors).toBeUndefined();
    await until(() => jobOf(claimId), (j) => j?.status === 'SUCCEEDED');

    const auditorPage = await signedIn(await stack.token(org.ids.auditor));
    try {
      await auditorPage.fill('#trace-input', claimId);
      await auditorPage.click('#view-trace button[type="submit"]');
      await auditorPage.locator(`#trace-originals li[data-sha256="${file.sha256}"]`).waitFor({ timeout: 10_000 });
      expect(await auditorPage.textContent('#trace-originals')).toContain('taxi receipt.pdf');
      const filed = auditorPage.locator(`#trace-filed li[data-sha256="${file.sha256}"]`);
      await filed.waitFor({ timeout: 10_000 });
      const [download] = await Promise.all([auditorPage.waitForEvent('download'), filed.locator('button.download').click()]);
      expect(download.suggestedFilename()).toBe('taxi receipt.pdf');
      expect(readFileSync((await download.path())!)).toEqual(pdf);
      await photograph(auditorPage, '#view-trace', 'auditor-trace');
    } finally {
      await auditorPage.close();
    }
  }, 90_000);

  it('shows an EMPLOYEE only their own, and takes their feedback, which the ADMIN then tags and closes', async () => {
    const mine = (await stack.gql<{ expenseClaims: { edges: { node: { id: string } }[] } }>(await stack.token(org.ids.alice), `{ expenseClaims(first: 1) { edges { node { id } } } }`)).data?.expenseClaims.edges[0]?.node.id;
    expect(mine).toBeTruthy();
    const alicePage = await signedIn(await stack.token(org.ids.alice));
    const text = 'The trace view is great <img src=x onerror=alert(1)> but I miss a CSV button';
    try {
      expect(await alicePage.textContent('#app-message')).toContain('needs one of the roles ADMIN, AUDITOR');
      for (const hidden of ['#view-status', '#view-history', '#view-jobs', '#view-alerts', '#view-periods']) expect(await alicePage.isHidden(hidden), hidden).toBe(true);
      await alicePage.locator('#chart-department figcaption').waitFor({ timeout: 10_000 });
      expect(await alicePage.textContent('#chart-department figcaption')).toContain('(your own claims)');
      expect(await alicePage.textContent('#chart-lag')).toContain('needs one of the roles ADMIN, AUDITOR, ACCOUNTANT, FINANCE_DIRECTOR');
      expect(await alicePage.locator('#feedback-inbox').count()).toBe(0);

      await alicePage.fill('#feedback-text', text);
      await alicePage.fill('#feedback-claim', mine!);
      await alicePage.click('#feedback-send');
      await expect.poll(() => alicePage.textContent('#feedback-send-message'), { timeout: 10_000 }).toContain('Thank you');
      const item = alicePage.locator('#feedback-mine li[data-feedback-id]').first();
      await expect.poll(() => item.locator('.feedback-text').textContent(), { timeout: 10_000 }).toBe(text);
      expect(await alicePage.locator('#feedback-mine img').count()).toBe(0);
      await photograph(alicePage, '#view-feedback', 'employee-feedback');
      await photograph(alicePage, null, 'employee');
    } finally {
      await alicePage.close();
    }

    // The ADMIN (the first page) sees it in the inbox, tags it and closes it.
    await page.reload();
    const card = page.locator('#feedback-inbox li[data-feedback-id]').filter({ hasText: 'I miss a CSV button' });
    await card.waitFor({ timeout: 15_000 });
    expect(await card.textContent()).toContain(`claim ${mine}`);
    await card.locator('input.feedback-tags').fill('ux, csv');
    await card.locator('button.tag').click();
    await expect.poll(() => page.locator('#feedback-inbox li[data-feedback-id]').filter({ hasText: 'I miss a CSV button' }).textContent(), { timeout: 10_000 }).toContain('tags: csv, ux');
    const tagged = page.locator('#feedback-inbox li[data-feedback-id]').filter({ hasText: 'I miss a CSV button' });
    await tagged.locator('input.feedback-resolution').fill('CSV reports are at /reports');
    await tagged.locator('button.close').click();
    await expect.poll(() => tagged.getAttribute('data-status'), { timeout: 10_000 }).toBe('CLOSED');
    const stored = await stack.gql<{ feedback: { edges: { node: { text: string; status: string; tags: string[]; resolution: string; claimId: string } }[] } }>(adminToken, `{ feedback(status: CLOSED, first: 10) { edges { node { text status tags resolution claimId } } } }`);
    expect(stored.data!.feedback.edges.map((e) => e.node)).toContainEqual({ text, status: 'CLOSED', tags: ['csv', 'ux'], resolution: 'CSV reports are at /reports', claimId: mine });
    await photograph(page, '#view-feedback', 'admin-feedback');
  }, 90_000);

  it('signs out: the token leaves the tab', async () => {
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(await page.textContent('#sign-in-message')).toContain('Signed out');
    await page.reload();
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    expect(await page.isVisible('#app')).toBe(false);
  }, 30_000);
});

/** A new tab signed in with `token`, the app shown. */
async function signedIn(token: string): Promise<Page> {
  const tab = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  tab.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.message}`));
  await tab.goto(`${origin}/console`);
  await tab.fill('#token', token);
  await tab.click('#sign-in-button');
  await tab.locator('#app').waitFor({ state: 'visible' });
  return tab;
}

/**
 * A picture of a view (or the whole page) that must show something: a PNG of the element's size with many
 * colours, not a blank or single-colour box. Kept in CONSOLE_SCREENSHOT_DIR when set, to look at.
 */
async function photograph(tab: Page, selector: string | null, name: string): Promise<void> {
  const png = selector ? await tab.locator(selector).screenshot({ type: 'png' }) : await tab.screenshot({ fullPage: true, type: 'png' });
  if (process.env.CONSOLE_SCREENSHOT_DIR) writeFileSync(join(process.env.CONSOLE_SCREENSHOT_DIR, `${name}.png`), png);
  const box = selector ? await tab.locator(selector).boundingBox() : null;
  const image = decodePng(png);
  if (box) expect(Math.abs(image.width - Math.round(box.width))).toBeLessThanOrEqual(1);
  expect(image.height, name).toBeGreaterThan(60);
  expect(image.colours, `${name}: colours in the picture`).toBeGreaterThan(selector ? 12 : 50);
}

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes) and counts its distinct colours. */
function decodePng(png: Buffer): { width: number; height: number; colours: number } {
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8]).toBe(8); // bit depth
      channels = ({ 2: 3, 6: 4 } as Record<number, number>)[data[9]] ?? 0;
      expect(channels).toBeGreaterThan(0);
      expect(data[12]).toBe(0); // not interlaced
    }
    if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const previous = Buffer.alloc(stride);
  const current = Buffer.alloc(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? current[i - channels] : 0;
      const b = previous[i];
      const c = i >= channels ? previous[i - channels] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      current[i] = v & 0xff;
    }
    if (colours.size < 10_000) for (let x = 0; x < width; x += 3) colours.add((current[x * channels] << 16) | (current[x * channels + 1] << 8) | current[x * channels + 2]);
    current.copy(previous);
  }
  return { width, height, colours: colours.size };
}
