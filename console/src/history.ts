// Status history: the last 24 h of the sync service's status samples (systemStatusHistory), as charts: probes of
// the database and each subgraph (up/down per time bucket; a bucket is DOWN if any of its samples was), the sync
// lag (oldest waiting approval, p95 of the jobs completed) and the backlog (jobs waiting, dead). Every minute.
import { describeErrors, gql } from './api.ts';
import { type View, every } from './context.ts';
import { h, ms, note, replace, time } from './dom.ts';
import { HISTORY_POINTS } from './page-sizes.ts';
import { type StripRow, compact, lineChart, statusStrip } from './svg.ts';

const HISTORY = `query ConsoleStatusHistory($maxPoints: Int) {
  systemStatusHistory(maxPoints: $maxPoints) { at database subgraphs { name status } backlog deadJobs oldestPendingMs lagP95Ms }
}`;

interface Sample {
  at: string;
  database: 'UP' | 'DOWN';
  subgraphs: { name: string; status: 'UP' | 'DOWN' }[];
  backlog: number;
  deadJobs: number;
  oldestPendingMs: number;
  lagP95Ms: number | null;
}

export function mountHistory(root: HTMLElement): View {
  const probes = h('div', { class: 'chart-slot', id: 'history-probes' });
  const lag = h('div', { class: 'chart-slot', id: 'history-lag' });
  const backlog = h('div', { class: 'chart-slot', id: 'history-backlog' });
  const message = h('div', { class: 'messages' });
  replace(root, h('div', { class: 'panel-head' }, h('h2', {}, 'Last 24 hours')), message, h('div', { class: 'charts' }, probes, lag, backlog));

  async function load() {
    const r = await gql<{ systemStatusHistory: Sample[] }>(HISTORY, { maxPoints: HISTORY_POINTS });
    const samples = r.data?.systemStatusHistory;
    if (!samples) {
      message.replaceChildren(note('error', `Status history: ${describeErrors(r.errors)}`));
      return;
    }
    message.replaceChildren();
    const labels = samples.map((x) => time(x.at));
    const names = [...new Set(samples.flatMap((x) => x.subgraphs.map((g) => g.name)))].sort();
    const rows: StripRow[] = [
      { name: 'database', states: samples.map((x) => x.database) },
      ...names.map((name) => ({ name, states: samples.map((x) => x.subgraphs.find((g) => g.name === name)?.status ?? null) })),
    ];
    const none = 'No samples yet: the sync service records one every minute (STATUS_SAMPLE_MS).';
    replace(probes, statusStrip('Probes', labels, rows, none));
    replace(
      lag,
      lineChart(
        'Sync lag',
        labels,
        [
          { name: 'oldest waiting', values: samples.map((x) => x.oldestPendingMs) },
          { name: 'p95 filed', values: samples.map((x) => x.lagP95Ms) },
        ],
        (v) => ms(Math.round(v)),
        none,
      ),
    );
    replace(
      backlog,
      lineChart(
        'Sync backlog',
        labels,
        [
          { name: 'waiting', values: samples.map((x) => x.backlog) },
          { name: 'dead', values: samples.map((x) => x.deadJobs) },
        ],
        compact,
        none,
      ),
    );
  }

  const stop = every(60_000, load);
  return { stop };
}
