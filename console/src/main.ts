// The operator console: sign in with a token, then the status header and the views. Everything goes through the
// public GraphQL API at /graphql (HTTP and graphql-ws) with the operator's token; the token is kept in
// sessionStorage only (it goes with the tab) and signing out forgets it.
import type { Client } from 'graphql-ws';
import { codes, describeErrors, gql, liveClient, session, whenUnauthenticated } from './api.ts';
import { mountAlerts } from './alerts.ts';
import { mountCharts } from './charts.ts';
import { type ConsoleContext, type View, syncEventHub } from './context.ts';
import { byId, note, replace } from './dom.ts';
import { mountEvents } from './events.ts';
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

/** Checks the token against the gateway: whether it may be used (with a warning when the status failed), or why not. */
async function check(token: string): Promise<{ ok: true; warning: string | null } | { ok: false; text: string }> {
  if (!JWT.test(token)) return { ok: false, text: 'That is not a token: paste the JWT printed by `npm run token -- --sub <id> --roles ADMIN`.' };
  const r = await gql<{ systemStatus: { checkedAt: string } }>('query ConsoleSignIn { systemStatus { checkedAt } }', {}, token);
  const c = codes(r.errors);
  if (c.includes('UNAUTHENTICATED') || r.status === 401) return { ok: false, text: `The gateway did not accept this token (expired, wrong signature or malformed): ${describeErrors(r.errors) || 'UNAUTHENTICATED'}` };
  if (c.includes('FORBIDDEN')) return { ok: false, text: 'This token is valid but may not watch the system: the console needs the ADMIN role (or AUDITOR, to read without acting).' };
  if (r.status === 0) return { ok: false, text: describeErrors(r.errors) };
  if (r.data?.systemStatus) return { ok: true, warning: null };
  // Authenticated and not refused, but the status itself failed: sign in, and say so.
  return { ok: true, warning: `Signed in, but the system status could not be read: ${describeErrors(r.errors)}` };
}

async function signIn(token: string, warning: string | null) {
  session.set(token);
  byId('sign-in').hidden = true;
  byId('app').hidden = false;
  byId('sign-out').hidden = false;
  replace(byId('app-message'), warning ? note('error', warning) : null);
  live = liveClient(token);
  let trace: ReturnType<typeof mountTrace> | null = null;
  const ctx: ConsoleContext = {
    token,
    live,
    trace: (claimId) => trace?.open(claimId),
    expired: (text) => signOut({ kind: 'error', text }),
    ...syncEventHub(),
  };
  trace = mountTrace(byId('view-trace'), ctx);
  views = [mountStatus(byId('view-status'), ctx), mountEvents(byId('view-events'), ctx), mountJobs(byId('view-jobs'), ctx), mountAlerts(byId('view-alerts'), ctx), trace, mountCharts(byId('view-charts'))];
  const me = await gql<{ me: { name: string; employeeNo: string; roles: string[] } | null }>('query ConsoleMe { me { name employeeNo roles } }', {}, token);
  const who = me.data?.me;
  replace(byId('whoami'), who ? `${who.name} (${who.employeeNo}) · ${who.roles.join(', ')}` : 'service account');
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
        return signIn(token, verdict.warning);
      })
      .finally(() => {
        button.disabled = false;
      });
  });
  byId('sign-out').addEventListener('click', () => signOut({ kind: 'info', text: 'Signed out. The token was removed from this tab.' }));

  const saved = session.token;
  if (!saved) return showSignIn();
  // A token from earlier in this tab: check it again before using it.
  void check(saved).then((verdict) => (verdict.ok ? signIn(saved, verdict.warning) : signOut({ kind: 'error', text: verdict.text })));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
