// Charts over a chosen period: approved expenses by department and by month (expenseSummary), and the sync lag
// p50/p95 by day (syncStatistics).
import { describeErrors, gql } from './api.ts';
import type { View } from './context.ts';
import { h, ms, note, replace } from './dom.ts';
import { barChart, columnChart, lineChart } from './svg.ts';

const SUMMARY = `query ConsoleExpenseSummary($groupBy: SummaryGroup!, $from: Date!, $to: Date!) {
  expenseSummary(groupBy: $groupBy, from: $from, to: $to) { key label count total }
}`;
const STATISTICS = `query ConsoleSyncStatistics($from: Date!, $to: Date!) {
  syncStatistics(from: $from, to: $to) { day synced failedAttempts lagP50Ms lagP95Ms lagMaxMs }
}`;

interface SummaryRow {
  key: string;
  label: string | null;
  count: number;
  total: string;
}
interface StatisticRow {
  day: string;
  synced: number;
  failedAttempts: number;
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  lagMaxMs: number | null;
}

const iso = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

export function mountCharts(root: HTMLElement): View {
  const today = new Date();
  const from = h('input', { type: 'date', id: 'charts-from', value: iso(new Date(today.getFullYear(), today.getMonth() - 5, 1)), 'aria-label': 'From', required: true });
  // Up to tomorrow in the browser's calendar: the business day (the server's time zone, Asia/Shanghai by default)
  // can be a day ahead of the browser's, and the approvals of its today must be in the default period.
  const to = h('input', { type: 'date', id: 'charts-to', value: iso(new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1)), 'aria-label': 'To', required: true });
  const byDepartment = h('div', { class: 'chart-slot', id: 'chart-department' });
  const byMonth = h('div', { class: 'chart-slot', id: 'chart-month' });
  const lag = h('div', { class: 'chart-slot', id: 'chart-lag' });
  const message = h('div', { class: 'messages' });
  replace(
    root,
    h(
      'div',
      { class: 'panel-head' },
      h('h2', {}, 'Charts'),
      h('form', { class: 'inline-form', onsubmit: (ev: Event) => (ev.preventDefault(), void load()) }, h('label', {}, 'From ', from), h('label', {}, 'To ', to), h('button', { type: 'submit' }, 'Show')),
    ),
    message,
    h('div', { class: 'charts' }, byDepartment, byMonth, lag),
  );

  async function load() {
    const period = { from: from.value, to: to.value };
    if (!period.from || !period.to || period.from > period.to) {
      message.replaceChildren(note('error', 'Choose a period: From on or before To.'));
      return;
    }
    message.replaceChildren();
    for (const slot of [byDepartment, byMonth, lag]) slot.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    const [dept, month, stats] = await Promise.all([
      gql<{ expenseSummary: SummaryRow[] }>(SUMMARY, { groupBy: 'DEPARTMENT', ...period }),
      gql<{ expenseSummary: SummaryRow[] }>(SUMMARY, { groupBy: 'MONTH', ...period }),
      gql<{ syncStatistics: StatisticRow[] }>(STATISTICS, period),
    ]);
    const none = 'No approved claims in this period that your roles may read (finance and audit roles read all claims).';
    const money = (r: SummaryRow) => ({ label: r.label || r.key, value: Number(r.total) || 0, text: r.total, title: `${r.label || r.key}: ${r.total} in ${r.count} claim${r.count === 1 ? '' : 's'}` });
    replace(byDepartment, dept.data?.expenseSummary ? barChart('Approved expenses by department', [...dept.data.expenseSummary].sort((a, b) => Number(b.total) - Number(a.total)).map(money), none) : failed('Expenses by department', dept.errors));
    replace(byMonth, month.data?.expenseSummary ? columnChart('Approved expenses by month', [...month.data.expenseSummary].sort((a, b) => a.key.localeCompare(b.key)).map((r) => ({ ...money(r), label: r.key })), none) : failed('Expenses by month', month.errors));
    const rows = stats.data?.syncStatistics ? [...stats.data.syncStatistics].sort((a, b) => a.day.localeCompare(b.day)) : null;
    replace(
      lag,
      rows
        ? lineChart(
            'Sync lag by day (approval to filing)',
            rows.map((r) => r.day),
            [
              { name: 'p50', values: rows.map((r) => r.lagP50Ms) },
              { name: 'p95', values: rows.map((r) => r.lagP95Ms) },
            ],
            (v) => ms(Math.round(v)),
            'No claims synced in this period.',
          )
        : failed('Sync lag', stats.errors),
    );
  }

  void load();
  return { stop() {} };
}

function failed(what: string, errors: Parameters<typeof describeErrors>[0]): HTMLElement {
  return h('figure', { class: 'chart' }, h('figcaption', {}, what), note('error', errors.length ? describeErrors(errors) : 'No answer.'));
}
