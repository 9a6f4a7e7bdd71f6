// Sync jobs: the list (syncJobs) with a status filter, and Retry on DEAD and FAILED jobs (retrySyncJob), whose
// answer is shown on the row; the list refreshes every 10 s and shortly after a retry.
import { describeErrors, gql } from './api.ts';
import { type ConsoleContext, type View, every } from './context.ts';
import { badge, h, ms, note, replace, time, when } from './dom.ts';
import { JOB_PAGE } from './page-sizes.ts';

const STATUSES = ['', 'PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DEAD'] as const;

const JOBS = `query ConsoleSyncJobs($status: SyncJobStatus, $first: Int, $after: ID) {
  syncJobs(status: $status, first: $first, after: $after) { id claimNo status attempts lastError createdAt completedAt nextAttemptAt lagMs claim { id } }
}`;
const RETRY = `mutation ConsoleRetrySyncJob($id: ID!) { retrySyncJob(id: $id) { id status attempts } }`;

interface Job {
  id: string;
  claimNo: string;
  status: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  completedAt: string | null;
  nextAttemptAt: string | null;
  lagMs: number | null;
  claim: { id: string } | null;
}

export function mountJobs(root: HTMLElement, ctx: ConsoleContext): View {
  let status = '';
  /** Results of retries, kept across refreshes until the job's status changes. */
  const outcomes = new Map<string, { text: string; kind: 'ok' | 'error'; status: string }>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const message = h('div', { class: 'messages' });
  const tbody = h('tbody');
  const select = h(
    'select',
    { id: 'jobs-status', 'aria-label': 'Status', onchange: (ev: Event) => ((status = (ev.target as HTMLSelectElement).value), (pages = [null]), void load()) },
    STATUSES.map((s) => h('option', { value: s }, s || 'All statuses')),
  );
  const updated = h('span', { class: 'muted' });
  /** The `after` of each page shown so far (null: the first); the last is the page on screen. */
  let pages: (string | null)[] = [null];
  /** The last job on screen: where the next page starts. */
  let lastId: string | null = null;
  const previous = h('button', { type: 'button', class: 'secondary', id: 'jobs-previous', disabled: true, onclick: () => (pages.pop(), void load()) }, '← Newer');
  const next = h('button', { type: 'button', class: 'secondary', id: 'jobs-next', disabled: true, onclick: () => (pages.push(lastId), void load()) }, 'Older →');
  const pageNo = h('span', { class: 'muted', id: 'jobs-page' }, 'page 1');
  replace(
    root,
    h('div', { class: 'panel-head' }, h('h2', {}, 'Sync jobs'), select, h('button', { type: 'button', class: 'secondary', onclick: () => void load() }, 'Refresh'), updated),
    message,
    h(
      'div',
      { class: 'table-wrap' },
      h('table', { id: 'jobs-table' }, h('thead', {}, h('tr', {}, ['Claim', 'Status', 'Attempts', 'Created', 'Finished / next', 'Lag', 'Last error', ''].map((c) => h('th', {}, c)))), tbody),
    ),
    h('div', { class: 'pager' }, previous, pageNo, next),
  );

  let loading = false;
  let again = false;
  async function load(): Promise<void> {
    if (loading) {
      again = true; // once the current read is back, read again: it may predate what asked for this one
      return;
    }
    loading = true;
    try {
      // One more than a page: whether an older page exists, without a count.
      const r = await gql<{ syncJobs: Job[] }>(JOBS, { status: status || null, first: JOB_PAGE + 1, after: pages.at(-1) ?? null });
      if (r.errors.length) message.replaceChildren(note('error', describeErrors(r.errors)));
      else message.replaceChildren();
      if (r.data?.syncJobs) {
        const jobs = r.data.syncJobs.slice(0, JOB_PAGE);
        lastId = jobs.at(-1)?.id ?? null;
        previous.disabled = pages.length === 1;
        next.disabled = r.data.syncJobs.length <= JOB_PAGE;
        pageNo.textContent = `page ${pages.length}`;
        render(jobs);
      }
      updated.textContent = `updated ${time(new Date().toISOString()).slice(11)}`;
    } finally {
      loading = false;
    }
    if (again) {
      again = false;
      return load();
    }
  }

  function render(jobs: Job[]) {
    if (!jobs.length) {
      tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 8 }, status ? `No ${status} jobs.` : 'No sync jobs yet.')));
      return;
    }
    tbody.replaceChildren(
      ...jobs.map((job) => {
        const outcome = outcomes.get(job.id);
        // After a retry the job moves on: say where it is now.
        if (outcome && outcome.kind === 'ok' && outcome.status !== job.status) outcomes.set(job.id, { ...outcome, text: `Retried; now ${job.status}`, status: job.status });
        // Retrying needs the ADMIN role: no button that would be refused.
        const retryable = (job.status === 'DEAD' || job.status === 'FAILED') && ctx.access.can('operate');
        const claimId = job.claim?.id;
        const result = h('span', { class: 'job-result' }, outcomes.get(job.id)?.text ?? '');
        if (outcomes.get(job.id)) result.classList.add(`note-${outcomes.get(job.id)!.kind}`);
        return h(
          'tr',
          { 'data-job-id': job.id, 'data-status': job.status },
          h('td', {}, claimId ? h('button', { type: 'button', class: 'link', title: 'Trace this claim', onclick: () => ctx.trace(claimId) }, job.claimNo) : job.claimNo),
          h('td', { class: 'job-status' }, badge(job.status)),
          h('td', { class: 'num' }, job.attempts),
          h('td', {}, when(job.createdAt)),
          h('td', {}, job.completedAt ? when(job.completedAt) : job.nextAttemptAt ? ['next ', when(job.nextAttemptAt)] : '—'),
          h('td', { class: 'num' }, ms(job.lagMs)),
          h('td', { class: 'error-text' }, job.lastError ?? ''),
          h('td', {}, retryable ? h('button', { type: 'button', class: 'retry', onclick: (ev: Event) => void retry(job, ev.target as HTMLButtonElement, result) }, 'Retry') : '', result),
        );
      }),
    );
  }

  async function retry(job: Job, button: HTMLButtonElement, result: HTMLElement) {
    button.disabled = true;
    result.textContent = 'retrying…';
    const r = await gql<{ retrySyncJob: { id: string; status: string; attempts: number } }>(RETRY, { id: job.id });
    const done = r.data?.retrySyncJob;
    if (done) {
      outcomes.set(job.id, { text: `Retry accepted: ${done.status}`, kind: 'ok', status: done.status });
      result.textContent = `Retry accepted: ${done.status}`;
      result.className = 'job-result note-ok';
    } else {
      const text = `Retry failed: ${describeErrors(r.errors)}`;
      outcomes.set(job.id, { text, kind: 'error', status: job.status });
      result.textContent = text;
      result.className = 'job-result note-error';
      button.disabled = false;
    }
    // The job runs at once on the pipeline's instance: look again shortly, then a little later.
    for (const delay of [500, 1500, 4000]) {
      const t = setTimeout(() => {
        timers.delete(t);
        void load();
      }, delay);
      timers.add(t);
    }
  }

  const stopPolling = every(10_000, load);
  // Jobs change when claims are approved, fail or are filed: look again shortly after such an event arrives live.
  let soon: ReturnType<typeof setTimeout> | undefined;
  const offEvents = ctx.onSyncEvent((type) => {
    if (type !== 'CLAIM_APPROVED' && type !== 'SYNC_FAILED' && type !== 'ARCHIVE_FILED') return;
    clearTimeout(soon);
    soon = setTimeout(() => void load(), 300);
  });
  return {
    stop() {
      stopPolling();
      offEvents();
      clearTimeout(soon);
      for (const t of timers) clearTimeout(t);
    },
  };
}
