// Live sync events: subscription syncEvents with the chosen types, newest on top, capped. It starts after the head
// of the log as it was when the view opened (so nothing between loading and subscribing is lost) and, when the
// connection drops, subscribes again with `after` = the last seq received: the gateway replays what was missed,
// with no gap and no duplicate.
import { gql, describeErrors, subscriptionError } from './api.ts';
import type { ConsoleContext, View } from './context.ts';
import { badge, h, note, replace, when } from './dom.ts';
import { EARLIER_PAGE } from './page-sizes.ts';

export const SYNC_EVENT_TYPES = ['CLAIM_SUBMITTED', 'CLAIM_APPROVED', 'CLAIM_REJECTED', 'VOUCHER_CREATED', 'ARCHIVE_FILED', 'SYNC_FAILED', 'RECONCILIATION_DIFFERENCE', 'ALERT_RAISED', 'ALERT_RESOLVED', 'FEEDBACK_RECEIVED', 'FEEDBACK_CLOSED', 'PERIOD_CLOSE_REQUESTED', 'PERIOD_CLOSED', 'PERIOD_REOPENED', 'HANDOVER_SIGNED'] as const;
const DEFAULT_TYPES = new Set<string>(['CLAIM_SUBMITTED', 'CLAIM_APPROVED', 'CLAIM_REJECTED', 'VOUCHER_CREATED', 'ARCHIVE_FILED', 'SYNC_FAILED', 'RECONCILIATION_DIFFERENCE']);
/** Rows kept on screen. */
export const MAX_ROWS = 200;

// Only the claim's id, which the event itself carries: the claim resolves under the claim's scope (an ADMIN
// operator may not read it: `claim` is null), and `detail` carries the claim, voucher or archive number.
const SUBSCRIPTION = `subscription ConsoleSyncEvents($types: [SyncEventType!], $after: String) {
  syncEvents(types: $types, after: $after) { seq type occurredAt detail claimId }
}`;
/** Paging back from the oldest row shown (or from where the live stream began). */
const EARLIER = `query ConsoleEarlierEvents($types: [SyncEventType!], $before: String, $first: Int) {
  syncEvents(types: $types, before: $before, first: $first) { seq type occurredAt detail claimId }
}`;


export interface SyncEventRow {
  seq: string;
  type: string;
  occurredAt: string;
  detail: string | null;
  claimId: string | null;
}

export function mountEvents(root: HTMLElement, ctx: ConsoleContext): View {
  let after: string | null = null;
  /** The head of the log when the view opened: the live stream shows what follows it, Earlier what precedes. */
  let startedAfter: string | null = null;
  let unsubscribe: (() => void) | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  let stopped = false;
  const types = new Set(DEFAULT_TYPES);
  const seen = new Set<string>();

  const state = h('span', { class: 'live-state', 'data-state': 'connecting' }, 'connecting…');
  const message = h('div', { class: 'messages' });
  const tbody = h('tbody');
  const empty = h('tr', { class: 'empty' }, h('td', { colspan: 5 }, 'Waiting for events… (new ones appear here as they happen)'));
  tbody.append(empty);
  const earlierButton = h('button', { type: 'button', class: 'secondary', id: 'events-earlier', onclick: () => void earlier() }, 'Earlier events');
  const earlierNote = h('span', { class: 'muted', id: 'events-earlier-note' });
  const filters = h(
    'fieldset',
    { class: 'filters' },
    h('legend', {}, 'Types'),
    SYNC_EVENT_TYPES.map((t) =>
      h('label', {}, h('input', { type: 'checkbox', value: t, checked: types.has(t), onchange: (ev: Event) => toggle(t, (ev.target as HTMLInputElement).checked) }), ` ${t}`),
    ),
  );
  replace(
    root,
    h('div', { class: 'panel-head' }, h('h2', {}, 'Live sync events'), state, h('button', { type: 'button', class: 'secondary', onclick: () => clearRows() }, 'Clear')),
    filters,
    message,
    h('div', { class: 'table-wrap' }, h('table', { id: 'events-table' }, h('thead', {}, h('tr', {}, ['Time', 'Type', 'Seq', 'Claim / detail', ''].map((c) => h('th', {}, c)))), tbody)),
    h('div', { class: 'pager' }, earlierButton, earlierNote),
  );

  const setState = (s: 'connecting' | 'live' | 'reconnecting' | 'stopped', text: string) => {
    state.setAttribute('data-state', s);
    state.textContent = text;
  };

  function clearRows() {
    tbody.replaceChildren(empty);
    seen.clear();
    earlierButton.disabled = false;
    earlierNote.textContent = '';
  }

  /** The page of events before the oldest row shown, added below it (newest first, as the table is). */
  async function earlier() {
    const seqs = [...tbody.rows].map((tr) => tr.getAttribute('data-seq')).filter((x): x is string => !!x).sort();
    const before = seqs[0] ?? (startedAfter !== null ? String(Number(startedAfter) + 1).padStart(startedAfter.length, '0') : null);
    if (before === null) return;
    earlierButton.disabled = true;
    const r = await gql<{ syncEvents: SyncEventRow[] }>(EARLIER, { types: [...types], before, first: EARLIER_PAGE });
    if (!r.data?.syncEvents) {
      earlierButton.disabled = false;
      message.replaceChildren(note('error', `Earlier events: ${describeErrors(r.errors)}`));
      return;
    }
    const page = r.data.syncEvents;
    for (const e of [...page].reverse()) if (!seen.has(e.seq)) tbody.append(row(e, false));
    if (page.length) empty.remove();
    earlierButton.disabled = page.length < EARLIER_PAGE;
    earlierNote.textContent = page.length < EARLIER_PAGE ? 'No earlier events.' : '';
  }

  function toggle(type: string, on: boolean) {
    if (on) types.add(type);
    else types.delete(type);
    restart();
  }

  function row(e: SyncEventRow, fresh: boolean): HTMLTableRowElement {
    seen.add(e.seq);
    const claimId = e.claimId;
    return h(
      'tr',
      { 'data-seq': e.seq, 'data-type': e.type, 'data-claim-id': claimId ?? null, class: fresh ? 'fresh' : null },
      h('td', {}, when(e.occurredAt)),
      h('td', {}, badge(e.type)),
      h('td', { class: 'mono' }, e.seq),
      h('td', {}, e.detail ?? '—'),
      h('td', {}, claimId ? h('button', { type: 'button', class: 'link', onclick: () => ctx.trace(claimId) }, 'Trace') : ''),
    );
  }

  function add(e: SyncEventRow) {
    if (seen.has(e.seq)) return;
    empty.remove();
    const tr = row(e, true);
    tbody.prepend(tr);
    setTimeout(() => tr.classList.remove('fresh'), 1500);
    while (tbody.rows.length > MAX_ROWS) {
      const last = tbody.rows[tbody.rows.length - 1];
      seen.delete(last.getAttribute('data-seq') ?? '');
      last.remove();
    }
  }

  function subscribe() {
    if (stopped) return;
    setState(attempt ? 'reconnecting' : 'connecting', attempt ? 'reconnecting…' : 'connecting…');
    let gotFirst = false;
    const variables = { types: [...types], after };
    const off = ctx.live.subscribe<{ syncEvents: SyncEventRow }>(
      { query: SUBSCRIPTION, variables },
      {
        next: (result) => {
          if (!gotFirst) {
            gotFirst = true;
            attempt = 0;
          }
          if (result.errors?.length) message.replaceChildren(note('error', describeErrors(result.errors as never)));
          const e = result.data?.syncEvents;
          if (e) {
            after = e.seq;
            add(e);
            ctx.emitSyncEvent(e.type);
          }
        },
        error: (err) => {
          const { message: text, unauthenticated } = subscriptionError(err);
          if (unauthenticated) {
            setState('stopped', 'signed out');
            ctx.expired(`The live stream was refused: ${text}. Sign in again.`);
            return;
          }
          message.replaceChildren(note('error', `Live stream: ${text}`));
          retryLater();
        },
        complete: () => retryLater(),
      },
    );
    unsubscribe = off;
    // On a socket that is already open (another view opened it), the subscription is live as sent.
    if (connected) setState('live', 'live');
  }

  function retryLater() {
    if (stopped) return;
    unsubscribe = null;
    attempt++;
    const delay = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5));
    setState('reconnecting', `reconnecting in ${Math.round(delay / 1000)} s…`);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(subscribe, delay);
  }

  function restart() {
    unsubscribe?.();
    unsubscribe = null;
    clearTimeout(retryTimer);
    subscribe();
  }

  // The shared client reports the socket's state: subscribed on an open socket means live.
  let connected = false;
  const onConnected = ctx.live.on('connected', () => {
    connected = true;
    if (!stopped && unsubscribe) {
      message.replaceChildren();
      setState('live', 'live');
    }
  });
  const onClosed = ctx.live.on('closed', () => {
    connected = false;
    if (!stopped && state.getAttribute('data-state') === 'live') setState('reconnecting', 'reconnecting…');
  });

  void (async () => {
    // Start after the current head, so the stream begins exactly where the page did.
    const head = await gql<{ syncEventHead: string }>('query ConsoleHead { syncEventHead }');
    if (head.data?.syncEventHead) after = startedAfter = head.data.syncEventHead;
    else if (head.errors.length) message.replaceChildren(note('error', `Head of the log: ${describeErrors(head.errors)}`));
    subscribe();
  })();

  return {
    stop() {
      stopped = true;
      onConnected();
      onClosed();
      clearTimeout(retryTimer);
      unsubscribe?.();
    },
  };
}
