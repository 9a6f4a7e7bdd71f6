// Trace: one claim through approval, voucher and archive record. The claim (with its approval steps, voucher and
// archive record) comes from expenseClaim(id), under the operator's own scope; the claim's sync events
// (syncEvents(claimId)) and its sync job show the way it went through the integration, in order. The claim's original
// documents (its items' attachments) and the archive's copies filed with the record are listed; the archive's copies
// download through GET /archive/files/<id> for the roles that may read them (ARCHIVIST, AUDITOR, or a borrower).
import { type GqlResult, describeErrors, gql } from './api.ts';
import type { ConsoleContext, View } from './context.ts';
import { badge, h, note, replace, time, when } from './dom.ts';

const CLAIM = `query ConsoleTraceClaim($id: ID!) {
  expenseClaim(id: $id) {
    id claimNo title category status total createdAt submittedAt approvedAt
    applicant { name employeeNo } department { name }
    approval { status steps { name mode status assignees { name } decisions { approver { name } decision comment decidedAt } } }
    voucher { voucherNo date debitTotal creditTotal }
    items { description attachments { id filename mediaType size sha256 } }
    archiveRecord { archiveNo status retention retentionStartsOn fixity { algorithm digest } files { id name mediaType size sha256 } }
  }
}`;
const EVENTS = `query ConsoleTraceEvents($id: ID!, $after: String) { syncEvents(claimId: $id, after: $after, first: 500) { seq type occurredAt detail } }`;
const JOBS = `query ConsoleTraceJobs { syncJobs(first: 200) { id claimNo status attempts lastError lagMs completedAt claim { id } } }`;

interface Claim {
  id: string;
  claimNo: string;
  title: string;
  category: string;
  status: string;
  total: string;
  createdAt: string;
  submittedAt: string | null;
  approvedAt: string | null;
  applicant: { name: string; employeeNo: string } | null;
  department: { name: string } | null;
  approval: {
    status: string;
    steps: { name: string; mode: string; status: string; assignees: { name: string }[]; decisions: { approver: { name: string } | null; decision: string; comment: string | null; decidedAt: string }[] }[];
  } | null;
  voucher: { voucherNo: string; date: string; debitTotal: string; creditTotal: string } | null;
  items: { description: string; attachments: { id: string; filename: string; mediaType: string; size: number; sha256: string }[] }[];
  archiveRecord: {
    archiveNo: string;
    status: string;
    retention: string;
    retentionStartsOn: string;
    fixity: { algorithm: string; digest: string } | null;
    files: { id: string; name: string; mediaType: string; size: number; sha256: string }[];
  } | null;
}
interface TraceEvent {
  seq: string;
  type: string;
  occurredAt: string;
  detail: string | null;
}
interface Job {
  id: string;
  claimNo: string;
  status: string;
  attempts: number;
  lastError: string | null;
  lagMs: number | null;
  completedAt: string | null;
  claim: { id: string } | null;
}

const OBJECT_ID = /^[0-9a-f]{24}$/i;

export function mountTrace(root: HTMLElement, ctx: ConsoleContext): View & { open(claimId: string): void } {
  const input = h('input', { type: 'text', id: 'trace-input', placeholder: 'claim id, or claim number of a synced claim', 'aria-label': 'Claim id or number', autocomplete: 'off', spellcheck: false });
  const out = h('div', { class: 'trace', id: 'trace-output' });
  const form = h('form', { class: 'inline-form', onsubmit: (ev: Event) => (ev.preventDefault(), void run(input.value.trim())) }, input, h('button', { type: 'submit' }, 'Trace'));
  replace(root, h('div', { class: 'panel-head' }, h('h2', {}, 'Trace a claim')), form, out);
  let generation = 0;

  async function run(query: string) {
    if (!query) return;
    const mine = ++generation;
    replace(out, note('info', 'Tracing…'));
    const jobs = await gql<{ syncJobs: Job[] }>(JOBS);
    let claimId = query;
    if (!OBJECT_ID.test(query)) {
      const byNo = jobs.data?.syncJobs.find((j) => j.claimNo === query);
      if (!byNo?.claim) {
        replace(out, note('error', jobs.errors.length ? `Looking up ${query}: ${describeErrors(jobs.errors)}` : `No sync job for claim number ${query} among the latest 200; enter the claim's id.`));
        return;
      }
      claimId = byNo.claim.id;
    }
    const [claim, events] = await Promise.all([gql<{ expenseClaim: Claim | null }>(CLAIM, { id: claimId }), allEvents(claimId)]);
    if (mine !== generation) return;
    const job = jobs.data?.syncJobs.find((j) => j.claim?.id === claimId) ?? null;
    const c = claim.data?.expenseClaim ?? null;
    replace(
      out,
      h('h3', {}, c ? `${c.claimNo} · ${c.title}` : job ? job.claimNo : `Claim ${claimId}`),
      claim.errors.length ? note('error', `Claim: ${describeErrors(claim.errors)}`) : '',
      c ? claimSection(c, ctx) : claim.errors.length ? '' : note('info', 'The claim itself is not visible to your roles (ACCOUNTANT, FINANCE_DIRECTOR and AUDITOR read every claim); its sync job and events follow.'),
      jobSection(job, jobs.errors.length ? describeErrors(jobs.errors) : null),
      eventsSection(events),
    );
  }

  async function allEvents(claimId: string): Promise<{ events: TraceEvent[]; error: string | null }> {
    const events: TraceEvent[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const r: GqlResult<{ syncEvents: TraceEvent[] }> = await gql<{ syncEvents: TraceEvent[] }>(EVENTS, { id: claimId, after });
      if (!r.data?.syncEvents) return { events, error: describeErrors(r.errors) };
      events.push(...r.data.syncEvents);
      if (r.data.syncEvents.length < 500) break;
      after = r.data.syncEvents[r.data.syncEvents.length - 1].seq;
    }
    return { events, error: null };
  }

  return {
    open(claimId: string) {
      input.value = claimId;
      root.scrollIntoView({ behavior: 'smooth', block: 'start' });
      void run(claimId);
    },
    stop() {
      generation++;
    },
  };
}

/** A file as a row: name, type, size and the start of its digest (the whole one on hover). */
function fileRow(name: string, mediaType: string, size: number, sha256: string, action?: HTMLElement): HTMLElement {
  const kb = size < 1024 ? `${size} B` : size < 1024 * 1024 ? `${(size / 1024).toFixed(1)} KB` : `${(size / 1024 / 1024).toFixed(1)} MB`;
  return h('li', { 'data-sha256': sha256 }, h('strong', {}, name), h('span', { class: 'muted' }, ` ${mediaType} · ${kb} · `), h('span', { class: 'mono', title: `SHA-256 ${sha256}` }, `${sha256.slice(0, 12)}…`), action ? [' ', action] : '');
}

/** Fetches an archived file with the token (a link could not carry it) and hands it to the browser as a download. */
async function download(id: string, name: string, token: string, status: HTMLElement): Promise<void> {
  status.textContent = 'downloading…';
  const res = await fetch(`/archive/files/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${token}` }, credentials: 'omit', cache: 'no-store' }).catch(() => null);
  if (!res?.ok) {
    status.textContent = res ? `refused (HTTP ${res.status})` : 'the gateway did not answer';
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  status.textContent = 'downloaded';
}

function filesSection(c: Claim, ctx: ConsoleContext): HTMLElement[] {
  const originals = c.items.flatMap((item) => item.attachments.map((a) => ({ ...a, item: item.description })));
  const filed = c.archiveRecord?.files ?? [];
  const mayDownload = ctx.access.can('downloadArchivedFiles');
  return [
    h('h4', {}, `Original documents (${originals.length})`),
    originals.length
      ? h('ul', { class: 'files', id: 'trace-originals' }, originals.map((a) => fileRow(a.filename, a.mediaType, a.size, a.sha256)))
      : h('p', { class: 'muted' }, 'No files attached to the claim.'),
    ...(c.archiveRecord
      ? [
          h('h4', {}, `Filed with the record (${filed.length})`),
          filed.length
            ? h(
                'ul',
                { class: 'files', id: 'trace-filed' },
                filed.map((f) => {
                  if (!mayDownload) return fileRow(f.name, f.mediaType, f.size, f.sha256);
                  const status = h('span', { class: 'muted download-status' });
                  const button = h('button', { type: 'button', class: 'link download', onclick: () => void download(f.id, f.name, ctx.token, status) }, 'Download');
                  return fileRow(f.name, f.mediaType, f.size, f.sha256, h('span', {}, button, ' ', status));
                }),
              )
            : h('p', { class: 'muted' }, 'No files in the record.'),
        ]
      : []),
  ];
}

function claimSection(c: Claim, ctx: ConsoleContext): HTMLElement {
  const steps = c.approval?.steps ?? [];
  return h(
    'div',
    { class: 'trace-claim' },
    h(
      'dl',
      { class: 'facts' },
      fact('Status', badge(c.status)),
      fact('Applicant', c.applicant ? `${c.applicant.name} (${c.applicant.employeeNo})` : '—'),
      fact('Department', c.department?.name ?? '—'),
      fact('Category', c.category),
      fact('Total', c.total),
      fact('Created', time(c.createdAt)),
      fact('Submitted', time(c.submittedAt)),
      fact('Approved', time(c.approvedAt)),
    ),
    h('h4', {}, `Approval${c.approval ? ` · ${c.approval.status}` : ''}`),
    steps.length
      ? h(
          'ol',
          { class: 'steps' },
          steps.map((s) =>
            h(
              'li',
              { 'data-status': s.status },
              h('strong', {}, s.name),
              ' ',
              badge(s.status),
              h('span', { class: 'muted' }, ` ${s.mode} · ${s.assignees.map((a) => a.name).join(', ') || 'no assignee'}`),
              s.decisions.length
                ? h(
                    'ul',
                    {},
                    s.decisions.map((d) => h('li', {}, `${d.approver?.name ?? '?'}: ${d.decision} at ${time(d.decidedAt)}${d.comment ? ` — “${d.comment}”` : ''}`)),
                  )
                : '',
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'Not submitted for approval.'),
    h('h4', {}, 'Voucher'),
    c.voucher
      ? h('dl', { class: 'facts' }, fact('Number', c.voucher.voucherNo), fact('Date', c.voucher.date), fact('Debit', c.voucher.debitTotal), fact('Credit', c.voucher.creditTotal))
      : h('p', { class: 'muted' }, 'No voucher (yet).'),
    h('h4', {}, 'Archive record'),
    c.archiveRecord
      ? h(
          'dl',
          { class: 'facts' },
          fact('Number', c.archiveRecord.archiveNo),
          fact('Status', badge(c.archiveRecord.status)),
          fact('Retention', `${c.archiveRecord.retention} from ${c.archiveRecord.retentionStartsOn}`),
          fact('Fixity', c.archiveRecord.fixity ? `${c.archiveRecord.fixity.algorithm} ${c.archiveRecord.fixity.digest.slice(0, 16)}…` : '—'),
        )
      : h('p', { class: 'muted' }, 'Not filed (yet).'),
    filesSection(c, ctx),
  );
}

function jobSection(job: Job | null, error: string | null): HTMLElement {
  return h(
    'div',
    {},
    h('h4', {}, 'Sync job'),
    error
      ? note('error', `Sync jobs: ${error}`)
      : job
        ? h(
            'dl',
            { class: 'facts' },
            fact('Status', badge(job.status)),
            fact('Attempts', String(job.attempts)),
            fact('Finished', time(job.completedAt)),
            fact('Lag', job.lagMs === null ? '—' : `${job.lagMs} ms`),
            job.lastError ? fact('Last error', job.lastError) : null,
          )
        : h('p', { class: 'muted' }, 'No sync job among the latest 200 (the claim is not approved, or older).'),
  );
}

function eventsSection({ events, error }: { events: TraceEvent[]; error: string | null }): HTMLElement {
  return h(
    'div',
    {},
    h('h4', {}, `Sync events (${events.length})`),
    error ? note('error', `Sync events: ${error}`) : '',
    events.length
      ? h(
          'ol',
          { class: 'timeline', id: 'trace-events' },
          events.map((e) => h('li', { 'data-type': e.type }, h('span', { class: 'mono' }, e.seq), ' ', when(e.occurredAt), ' ', badge(e.type), ' ', e.detail ?? '')),
        )
      : error
        ? ''
        : h('p', { class: 'muted' }, 'No sync events for this claim.'),
  );
}

function fact(label: string, value: string | HTMLElement | null): HTMLElement[] | null {
  return value === null ? null : [h('dt', {}, label), h('dd', {}, value)];
}
