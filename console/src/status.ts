// The status header: systemStatus (subgraphs, database, sync backlog and lag, open alerts), every 10 s. When
// systemStatus cannot be read, syncStatus still gives the backlog and lag.
import { describeErrors, gql } from './api.ts';
import { type ConsoleContext, type View, every } from './context.ts';
import { h, ms, note, replace, time } from './dom.ts';

const STATUS = `query ConsoleSystemStatus {
  systemStatus {
    checkedAt database databaseLatencyMs
    subgraphs { name status latencyMs failures }
    sync { backlog failed dead lagP50Ms lagP95Ms }
    openAlerts openSubscriptions failingWebhooks deadDeliveries
  }
}`;
const SYNC_STATUS = `query ConsoleSyncStatus { syncStatus { backlog failed dead lagP50Ms lagP95Ms } }`;

interface SyncStatus {
  backlog: number;
  failed: number;
  dead: number;
  lagP50Ms: number | null;
  lagP95Ms: number | null;
}
interface SystemStatus {
  checkedAt: string;
  database: string;
  databaseLatencyMs: number | null;
  subgraphs: { name: string; status: string; latencyMs: number | null; failures: number }[];
  sync: SyncStatus;
  openAlerts: number;
  openSubscriptions: number;
  failingWebhooks: number;
  deadDeliveries: number;
}

const tile = (label: string, value: string | number, state: 'ok' | 'warn' | 'bad' | 'plain' = 'plain', id?: string) =>
  h('div', { class: `tile tile-${state}`, ...(id ? { id } : {}) }, h('span', { class: 'tile-label' }, label), h('span', { class: 'tile-value' }, String(value)));

const health = (s: string): 'ok' | 'bad' => (s === 'UP' ? 'ok' : 'bad');
const count = (n: number, bad: 'warn' | 'bad' = 'warn'): 'ok' | 'warn' | 'bad' => (n === 0 ? 'ok' : bad);

export function mountStatus(root: HTMLElement, ctx: Pick<ConsoleContext, 'onSyncEvent'>): View {
  const tiles = h('div', { class: 'tiles' });
  const message = h('div', { class: 'messages' });
  const checked = h('span', { class: 'muted' });
  replace(root, h('div', { class: 'panel-head' }, h('h2', {}, 'System status'), checked), tiles, message);

  const syncTiles = (s: SyncStatus) => [
    tile('Backlog', s.backlog, s.backlog > 50 ? 'warn' : 'ok', 'status-backlog'),
    tile('Failed jobs', s.failed, count(s.failed)),
    tile('Dead jobs', s.dead, count(s.dead, 'bad'), 'status-dead'),
    tile('Lag p50', ms(s.lagP50Ms)),
    tile('Lag p95', ms(s.lagP95Ms)),
  ];

  async function load() {
    const r = await gql<{ systemStatus: SystemStatus }>(STATUS);
    const s = r.data?.systemStatus;
    if (s) {
      message.replaceChildren(...(r.errors.length ? [note('error', describeErrors(r.errors))] : []));
      checked.textContent = `checked ${time(s.checkedAt)} · refreshes every 10 s`;
      tiles.replaceChildren(
        tile('Database', `${s.database}${s.databaseLatencyMs !== null ? ` · ${s.databaseLatencyMs} ms` : ''}`, health(s.database)),
        ...s.subgraphs.map((g) => tile(g.name, `${g.status}${g.latencyMs !== null ? ` · ${g.latencyMs} ms` : ''}${g.failures ? ` · ${g.failures} failed` : ''}`, health(g.status))),
        ...syncTiles(s.sync),
        tile('Open alerts', s.openAlerts, count(s.openAlerts, 'bad'), 'status-open-alerts'),
        tile('Subscriptions', s.openSubscriptions),
        tile('Failing webhooks', s.failingWebhooks, count(s.failingWebhooks)),
        tile('Dead deliveries', s.deadDeliveries, count(s.deadDeliveries)),
      );
      return;
    }
    // systemStatus failed: say why, and show what syncStatus still tells.
    const fallback = await gql<{ syncStatus: SyncStatus }>(SYNC_STATUS);
    message.replaceChildren(note('error', `System status: ${describeErrors(r.errors)}`), ...(fallback.errors.length ? [note('error', `Sync status: ${describeErrors(fallback.errors)}`)] : []));
    checked.textContent = `checked ${time(new Date().toISOString())} · refreshes every 10 s`;
    tiles.replaceChildren(...(fallback.data?.syncStatus ? syncTiles(fallback.data.syncStatus) : []));
  }

  const stopPolling = every(10_000, load);
  // Backlog, dead jobs and lag move when jobs fail or finish: look again a moment after such a live event.
  let soon: ReturnType<typeof setTimeout> | undefined;
  const offEvents = ctx.onSyncEvent((type) => {
    if (type !== 'ARCHIVE_FILED' && type !== 'SYNC_FAILED') return;
    clearTimeout(soon);
    soon = setTimeout(() => void load(), 1000);
  });
  return {
    stop() {
      stopPolling();
      offEvents();
      clearTimeout(soon);
    },
  };
}
