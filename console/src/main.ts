// The console: sign in with a token, then the views the user's roles may use (access.ts): operators (ADMIN, and
// AUDITOR to read) watch the system, finance roles read the expense charts, everyone sees the events of their own
// claims and sends feedback. Everything goes through the public GraphQL API at /graphql (HTTP and graphql-ws)
// with the user's token; the token is kept in sessionStorage only (it goes with the tab) and signing out forgets it.
import { type Access, CAPABILITIES, accessOf, tokenRoles } from './access.ts';
import type { Client } from 'graphql-ws';
import { codes, describeErrors, gql, liveClient, session, whenUnauthenticated } from './api.ts';
import { mountAlerts } from './alerts.ts';
import { mountCharts } from './charts.ts';
import { type ConsoleContext, type View, syncEventHub } from './context.ts';
import { byId, note, replace } from './dom.ts';
import { mountEvents } from './events.ts';
import { mountFeedback } from './feedback.ts';
import { mountPeriods } from './periods.ts';
import { mountHistory } from './history.ts';
import { mountJobs } from './jobs.ts';
import { mountStatus } from './status.ts';
import { mountTrace } from './trace.ts';

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

let views: View[] = [];
let live: Client | null = null;

function showSignIn(message?: { kind: 'info' | 'error'; text: string }) {
  stopViews();
  byId('app').hidden = true;
  byId('sign-out').hidden = true;
  replace(byId('whoami'));
  byId('sign-in').hidden = false;
  replace(byId('sign-in-message'), message ? note(message.kind, message.text) : null);
  byId<HTMLTextAreaElement>('token').focus();
}

function stopViews() {
  for (const v of views) v.stop();
  views = [];
  void live?.dispose();
  live = null;
}

interface Me {
  name: string;
  employeeNo: string;
  roles: string[];
}

/** Checks the token against the gateway: who it is (null for a service account), or why it may not be used. */
async function check(token: string): Promise<{ ok: true; me: Me | null; access: Access } | { ok: false; text: string }> {
  if (!JWT.test(token)) return { ok: false, text: 'That is not a token: paste the JWT printed by `npm run token -- --sub <id> --roles ADMIN`.' };
  const r = await gql<{ me: Me | null }>('query ConsoleMe { me { name employeeNo roles } }', {}, token);
  const c = codes(r.errors);
  if (c.includes('UNAUTHENTICATED') || r.status === 401) return { ok: false, text: `The gateway did not accept this token (expired, wrong signature or malformed): ${describeErrors(r.errors) || 'UNAUTHENTICATED'}` };
  if (r.status === 0 || !r.data) return { ok: false, text: describeErrors(r.errors) || 'The gateway did not answer.' };
  const me = r.data.me;
  // The gateway's roles: the token's together with the employee's own (the directory).
  return { ok: true, me, access: accessOf([...tokenRoles(token), ...(me?.roles ?? [])]) };
}

/** Shows a view's section when the user may use it; mounts it then. */
function section(id: string, allowed: boolean, mount: (root: HTMLElement) => View): View | null {
  const root = byId(id);
  root.hidden = !allowed;
  if (!allowed) {
    replace(root);
    return null;
  }
  return mount(root);
}

async function signIn(token: string, me: Me | null, access: Access) {
  session.set(token);
  byId('sign-in').hidden = true;
  byId('app').hidden = false;
  byId('sign-out').hidden = false;
  const watch = access.can('watch');
  replace(
    byId('app-message'),
    watch ? null : note('info', `Signed in with the roles ${access.roles.join(', ') || '(none)'}: you see the events and charts of the claims you may read, and can send feedback. Watching the system (status, jobs, alerts) needs one of the roles ${CAPABILITIES.watch.join(', ')}.`),
  );
  live = liveClient(token);
  let trace: ReturnType<typeof mountTrace> | null = null;
  const ctx: ConsoleContext = {
    token,
    access,
    live,
    trace: (claimId) => trace?.open(claimId),
    expired: (text) => signOut({ kind: 'error', text }),
    ...syncEventHub(),
  };
  trace = mountTrace(byId('view-trace'), ctx);
  views = [
    section('view-status', watch, (root) => mountStatus(root, ctx)),
    section('view-history', watch, (root) => mountHistory(root)),
    mountEvents(byId('view-events'), ctx),
    section('view-jobs', watch, (root) => mountJobs(root, ctx)),
    section('view-alerts', watch, (root) => mountAlerts(root, ctx)),
    trace,
    mountCharts(byId('view-charts'), ctx),
    mountFeedback(byId('view-feedback'), ctx),
    section('view-periods', access.can('periods'), (root) => mountPeriods(root, ctx)),
  ].filter((v): v is View => v !== null);
  replace(byId('whoami'), me ? `${me.name} (${me.employeeNo}) · ${access.roles.join(', ')}` : `service account · ${access.roles.join(', ')}`);
}

function signOut(message?: { kind: 'info' | 'error'; text: string }) {
  session.clear();
  showSignIn(message);
}

function start() {
  whenUnauthenticated(() => {
    if (session.token) signOut({ kind: 'error', text: 'Your token is no longer accepted (expired?). Sign in again with a fresh one.' });
  });
  byId('sign-in-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const field = byId<HTMLTextAreaElement>('token');
    const token = field.value.trim().replace(/^Bearer\s+/i, '');
    const button = byId<HTMLButtonElement>('sign-in-button');
    button.disabled = true;
    replace(byId('sign-in-message'), note('info', 'Checking the token…'));
    void check(token)
      .then((verdict) => {
        if (!verdict.ok) return replace(byId('sign-in-message'), note('error', verdict.text));
        field.value = '';
        return signIn(token, verdict.me, verdict.access);
      })
      .finally(() => {
        button.disabled = false;
      });
  });
  byId('sign-out').addEventListener('click', () => signOut({ kind: 'info', text: 'Signed out. The token was removed from this tab.' }));

  const saved = session.token;
  if (!saved) return showSignIn();
  // A token from earlier in this tab: check it again before using it.
  void check(saved).then((verdict) => (verdict.ok ? signIn(saved, verdict.me, verdict.access) : signOut({ kind: 'error', text: verdict.text })));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
