// Periods of a fiscal year (issue 19 §5): each month's state as the books stand (accountingPeriods): OPEN, GENERATING
// (its books being generated), CLOSING with the approval step it waits for, CLOSED with its documents filed, the last
// rejection's reason and reopenings.
// Refreshes every 30 s and when a period event arrives.
import { describeErrors, gql } from './api.ts';
import { type ConsoleContext, type View, every } from './context.ts';
import { badge, h, note, replace, when } from './dom.ts';

const PERIODS = `query ConsolePeriods($year: Int!) {
  accountingPeriods(fiscalYear: $year) { id status requestedBy closedAt vouchers documents { name archiveNo } approvalSteps { name status } lastRejection { by reason } reopenings { by reason } }
}`;

interface Period {
  id: string;
  status: 'OPEN' | 'GENERATING' | 'CLOSING' | 'CLOSED';
  requestedBy: string | null;
  closedAt: string | null;
  vouchers: number;
  documents: Array<{ name: string; archiveNo: string | null }>;
  approvalSteps: Array<{ name: string; status: string }>;
  lastRejection: { by: string; reason: string } | null;
  reopenings: Array<{ by: string; reason: string }>;
}

/** What a month's row says beyond its state. */
function detailOf(p: Period): string {
  if (p.status === 'GENERATING') return `books and reports being generated${p.requestedBy ? ` (asked by ${p.requestedBy})` : ''}`;
  if (p.status === 'CLOSING') return `awaiting ${p.approvalSteps.find((s) => s.status === 'ACTIVE')?.name ?? 'approval'} · ${p.documents.length} documents from ${p.vouchers} vouchers`;
  if (p.status === 'CLOSED') return `${p.documents.length} documents filed (${p.documents[0]?.archiveNo ?? ''} …)${p.reopenings.length ? ` · reopened ${p.reopenings.length}×` : ''}`;
  if (p.lastRejection) return `close rejected by ${p.lastRejection.by}: ${p.lastRejection.reason}`;
  return p.reopenings.length ? `reopened by ${p.reopenings.at(-1)!.by}: ${p.reopenings.at(-1)!.reason}` : '';
}

export function mountPeriods(root: HTMLElement, ctx: ConsoleContext): View {
  const thisYear = new Date().getFullYear();
  let year = thisYear;
  const message = h('div', { class: 'messages' });
  const tbody = h('tbody');
  const select = h(
    'select',
    { id: 'periods-year', 'aria-label': 'Fiscal year', onchange: (ev: Event) => ((year = Number((ev.target as HTMLSelectElement).value)), void load()) },
    Array.from({ length: 5 }, (_, i) => h('option', { value: String(thisYear - i) }, String(thisYear - i))),
  );
  replace(
    root,
    h('div', { class: 'panel-head' }, h('h2', {}, 'Periods'), select, h('button', { type: 'button', class: 'secondary', onclick: () => void load() }, 'Refresh')),
    message,
    h('div', { class: 'table-wrap' }, h('table', { id: 'periods-table' }, h('thead', {}, h('tr', {}, ['Month', 'State', 'Closed', ''].map((c) => h('th', {}, c)))), tbody)),
  );

  async function load(): Promise<void> {
    const r = await gql<{ accountingPeriods: Period[] }>(PERIODS, { year });
    message.replaceChildren(...(r.errors.length ? [note('error', describeErrors(r.errors))] : []));
    if (!r.data) return;
    tbody.replaceChildren(
      ...r.data.accountingPeriods.map((p) =>
        h('tr', { 'data-period': p.id, 'data-status': p.status }, h('td', {}, p.id), h('td', {}, badge(p.status)), h('td', {}, p.closedAt ? when(p.closedAt) : '—'), h('td', { class: 'muted' }, detailOf(p))),
      ),
    );
  }

  const stopTimer = every(30_000, load);
  const unsubscribe = ctx.onSyncEvent((type) => {
    if (type.startsWith('PERIOD_')) void load();
  });
  return {
    stop() {
      stopTimer();
      unsubscribe();
    },
  };
}
