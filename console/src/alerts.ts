// Alerts: the list (alerts, by status) and the live ones (subscription alerts), with Acknowledge, Resolve (with
// an optional resolution) and a button per action the alert offers (runAlertAction).
import { type GqlError, describeErrors, gql, subscriptionError } from './api.ts';
import { type ConsoleContext, type View, every } from './context.ts';
import { badge, h, note, replace, time } from './dom.ts';
import { ALERT_PAGE } from './page-sizes.ts';

const ALERT_FIELDS = `id rule severity status message raisedAt subject lastSeenAt count acknowledgedAt acknowledgedBy resolvedAt resolvedBy resolution actions { kind target label }`;
const ALERTS = `query ConsoleAlerts($status: AlertStatus, $first: Int, $after: ID) { alerts(status: $status, first: $first, after: $after) { ${ALERT_FIELDS} } }`;
const LIVE = `subscription ConsoleAlerts { alerts { ${ALERT_FIELDS} } }`;
const ACKNOWLEDGE = `mutation ConsoleAcknowledgeAlert($id: ID!) { acknowledgeAlert(id: $id) { ${ALERT_FIELDS} } }`;
const RESOLVE = `mutation ConsoleResolveAlert($id: ID!, $resolution: String) { resolveAlert(id: $id, resolution: $resolution) { ${ALERT_FIELDS} } }`;
const RUN = `mutation ConsoleRunAlertAction($id: ID!, $kind: AlertActionKind) { runAlertAction(id: $id, kind: $kind) { ${ALERT_FIELDS} } }`;

interface Alert {
  id: string;
  rule: string;
  severity: string;
  status: 'OPEN' | 'ACKNOWLEDGED' | 'RESOLVED';
  message: string;
  raisedAt: string;
  subject: string | null;
  lastSeenAt: string;
  count: number;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
  resolution: string | null;
  actions: { kind: string; target: string | null; label: string }[];
}

/** The list's filter: UNRESOLVED (the default) is OPEN and ACKNOWLEDGED together; '' is every alert. */
const STATUSES: [value: string, label: string][] = [
  ['UNRESOLVED', 'Open and acknowledged'],
  ['OPEN', 'Open'],
  ['ACKNOWLEDGED', 'Acknowledged'],
  ['RESOLVED', 'Resolved'],
  ['', 'All'],
];

export function mountAlerts(root: HTMLElement, ctx: ConsoleContext): View {
  let status = 'UNRESOLVED';
  let alerts: Alert[] = [];
  const outcomes = new Map<string, { text: string; kind: 'ok' | 'error' }>();
  let unsubscribe: (() => void) | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const message = h('div', { class: 'messages' });
  const liveMessage = h('div', { class: 'messages' });
  const list = h('div', { class: 'alert-list', id: 'alert-list' });
  const select = h(
    'select',
    { id: 'alerts-status', 'aria-label': 'Status', onchange: (ev: Event) => ((status = (ev.target as HTMLSelectElement).value), void load()) },
    STATUSES.map(([value, label]) => h('option', { value, selected: value === status }, label)),
  );
  replace(
    root,
    h('div', { class: 'panel-head' }, h('h2', {}, 'Alerts'), select, h('button', { type: 'button', class: 'secondary', onclick: () => void load() }, 'Refresh')),
    ctx.access.can('operate') ? '' : h('p', { class: 'muted small read-only' }, 'Read only: acknowledging, resolving and running actions need the ADMIN role.'),
    message,
    liveMessage,
    list,
  );

  const visible = (a: Alert) => !status || (status === 'UNRESOLVED' ? a.status !== 'RESOLVED' : a.status === status);

  /** Where each listed status is in its pages: the last alert shown, and whether there are more. */
  let cursors: { status: string | null; after: string | null; more: boolean }[] = [];

  async function load() {
    cursors = (status === 'UNRESOLVED' ? ['OPEN', 'ACKNOWLEDGED'] : [status || null]).map((s) => ({ status: s, after: null, more: true }));
    const found = await page();
    if (found) {
      alerts = found;
      render();
    }
  }

  async function more() {
    const found = await page();
    if (found) {
      const shown = new Set(alerts.map((a) => a.id));
      alerts.push(...found.filter((a) => !shown.has(a.id)));
      render();
    }
  }

  /** The next page of every listed status that has more; null when a read failed (the message says why). */
  async function page(): Promise<Alert[] | null> {
    const pending = cursors.filter((c) => c.more);
    const results = await Promise.all(pending.map((c) => gql<{ alerts: Alert[] }>(ALERTS, { status: c.status, first: ALERT_PAGE, after: c.after })));
    const errors: GqlError[] = results.flatMap((r) => r.errors);
    message.replaceChildren(...(errors.length ? [note('error', `Alerts: ${describeErrors(errors)}`)] : []));
    if (results.some((r) => !r.data?.alerts)) return null;
    const found: Alert[] = [];
    results.forEach((r, i) => {
      const got = r.data!.alerts;
      pending[i]!.after = got.at(-1)?.id ?? pending[i]!.after;
      pending[i]!.more = got.length === ALERT_PAGE;
      found.push(...got);
    });
    return found.sort((a, b) => b.lastSeenAt.localeCompare(a.lastSeenAt));
  }

  /** An alert as the server now has it (from a mutation or the subscription). */
  function upsert(alert: Alert, fresh = false) {
    const i = alerts.findIndex((a) => a.id === alert.id);
    if (i >= 0) {
      if (visible(alert)) alerts[i] = alert;
      else alerts.splice(i, 1);
    } else if (visible(alert)) alerts.unshift(alert);
    render(fresh ? alert.id : undefined);
  }

  function render(freshId?: string) {
    if (!alerts.length) {
      list.replaceChildren(h('p', { class: 'muted empty' }, status ? `No ${STATUSES.find(([v]) => v === status)?.[1].toLowerCase() ?? ''} alerts.` : 'No alerts.'));
      return;
    }
    const hasMore = cursors.some((c) => c.more);
    list.replaceChildren(...alerts.map((a) => card(a, a.id === freshId)), hasMore ? h('button', { type: 'button', class: 'secondary more', id: 'alerts-more', onclick: () => void more() }, 'Older alerts') : '');
  }

  function card(a: Alert, fresh: boolean): HTMLElement {
    const resolution = h('input', { type: 'text', class: 'resolution', placeholder: 'resolution (optional)', 'aria-label': 'Resolution', maxlength: 500 });
    const outcome = outcomes.get(a.id);
    const buttons: HTMLElement[] = [];
    // Acting needs the ADMIN role: other roles read the alert without buttons that would be refused.
    const operate = ctx.access.can('operate');
    if (operate && a.status === 'OPEN') buttons.push(h('button', { type: 'button', class: 'acknowledge', onclick: (ev: Event) => void act(a, ev, ACKNOWLEDGE, { id: a.id }, 'Acknowledged') }, 'Acknowledge'));
    if (operate && a.status !== 'RESOLVED') {
      for (const action of a.actions) {
        buttons.push(
          h('button', { type: 'button', class: 'run-action', 'data-kind': action.kind, title: action.target ?? '', onclick: (ev: Event) => void act(a, ev, RUN, { id: a.id, kind: action.kind }, `Ran ${action.label}`) }, `Run: ${action.label}`),
        );
      }
      buttons.push(resolution, h('button', { type: 'button', class: 'resolve', onclick: (ev: Event) => void act(a, ev, RESOLVE, { id: a.id, resolution: resolution.value.trim() || null }, 'Resolved') }, 'Resolve'));
    }
    return h(
      'article',
      { class: `alert alert-${a.severity.replace(/[^A-Za-z]/g, '')}${fresh ? ' fresh' : ''}`, 'data-alert-id': a.id, 'data-status': a.status },
      h('header', {}, badge(a.severity), ' ', badge(a.status), ' ', h('strong', {}, a.rule), a.count > 1 ? h('span', { class: 'muted' }, ` ×${a.count}`) : ''),
      h('p', { class: 'alert-message' }, a.message),
      h(
        'p',
        { class: 'muted small' },
        `raised ${time(a.raisedAt)}`,
        a.lastSeenAt !== a.raisedAt ? ` · last seen ${time(a.lastSeenAt)}` : '',
        a.subject ? ` · subject ${a.subject}` : '',
        a.acknowledgedAt ? ` · acknowledged ${time(a.acknowledgedAt)} by ${a.acknowledgedBy ?? '?'}` : '',
        a.resolvedAt ? ` · resolved ${time(a.resolvedAt)} by ${a.resolvedBy ?? '?'}${a.resolution ? `: ${a.resolution}` : ''}` : '',
      ),
      buttons.length ? h('div', { class: 'actions' }, buttons) : '',
      outcome ? note(outcome.kind, outcome.text) : '',
    );
  }

  async function act(a: Alert, ev: Event, mutation: string, variables: Record<string, unknown>, done: string) {
    const button = ev.target as HTMLButtonElement;
    button.disabled = true;
    const r = await gql<Record<string, Alert>>(mutation, variables);
    const updated = r.data ? Object.values(r.data)[0] : null;
    if (updated) {
      outcomes.set(a.id, { text: done, kind: 'ok' });
      // Out of the list now (resolved under "open and acknowledged"): say so above it.
      if (!visible(updated)) message.replaceChildren(note('ok', `${done}: ${updated.rule}${updated.subject ? ` (${updated.subject})` : ''}`));
      upsert(updated);
    } else {
      outcomes.set(a.id, { text: describeErrors(r.errors), kind: 'error' });
      render();
    }
  }

  function subscribe() {
    if (stopped) return;
    unsubscribe = ctx.live.subscribe<{ alerts: Alert }>(
      { query: LIVE },
      {
        next: (result) => {
          liveMessage.replaceChildren();
          if (result.data?.alerts) upsert(result.data.alerts, true);
          else if (result.errors?.length) liveMessage.replaceChildren(note('error', `Live alerts: ${describeErrors(result.errors as never)}`));
        },
        error: (err) => {
          const e = subscriptionError(err);
          if (e.unauthenticated) return ctx.expired(`The live alerts were refused: ${e.message}. Sign in again.`);
          liveMessage.replaceChildren(note('error', `Live alerts: ${e.message}`));
          // An error the server gave (not a dropped connection) would only repeat: no retry for those.
          if (Array.isArray(err)) return;
          retryTimer = setTimeout(() => {
            void load();
            subscribe();
          }, 5000);
        },
        complete: () => {
          if (!stopped) retryTimer = setTimeout(subscribe, 5000);
        },
      },
    );
  }

  const stopPolling = every(30_000, load);
  subscribe();
  return {
    stop() {
      stopped = true;
      stopPolling();
      clearTimeout(retryTimer);
      unsubscribe?.();
    },
  };
}
