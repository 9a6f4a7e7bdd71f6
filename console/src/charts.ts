// Charts over a chosen period: approved expenses by department and by month (expenseSummary), and the sync lag
// p50/p95 by day (syncStatistics). Each chart is drawn from what the user's roles may read; where a figure needs
// another role the chart says which (an ADMIN reads only their own claims, and no expense figures of others).
import { CAPABILITIES, EXPENSE_ROLES } from './access.ts';
import { describeErrors, gql } from './api.ts';
import type { ConsoleContext, View } from './context.ts';
import { monthsBetween } from './months.ts';
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

export function mountCharts(root: HTMLElement, ctx: ConsoleContext): View {
  const allClaims = ctx.access.can('allExpenses');
  const manager = ctx.access.roles.includes('MANAGER');
  const whose = allClaims ? '' : manager ? ' (your department)' : ' (your own claims)';
  const pointer = `Expense figures over every claim need one of the roles ${EXPENSE_ROLES.join(', ')}. Your roles (${ctx.access.roles.join(', ') || 'none'}) read ${manager ? "your department's claims" : 'your own claims'} only.`;
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
    message.replaceChildren(...(allClaims ? [] : [note('info', pointer)]));
    for (const slot of [byDepartment, byMonth, lag]) slot.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    const [dept, month, stats] = await Promise.all([
      gql<{ expenseSummary: SummaryRow[] }>(SUMMARY, { groupBy: 'DEPARTMENT', ...period }),
      gql<{ expenseSummary: SummaryRow[] }>(SUMMARY, { groupBy: 'MONTH', ...period }),
      ctx.access.can('syncStatistics') ? gql<{ syncStatistics: StatisticRow[] }>(STATISTICS, period) : null,
    ]);
    const none = allClaims ? 'No approved claims in this period.' : 'No approved claims in this period among those you may read.';
    const money = (r: SummaryRow) => ({ label: r.label || r.key, value: Number(r.total) || 0, text: r.total, title: `${r.label || r.key}: ${r.total} in ${r.count} claim${r.count === 1 ? '' : 's'}` });
    replace(byDepartment, dept.data?.expenseSummary ? barChart(`Approved expenses by department${whose}`, [...dept.data.expenseSummary].sort((a, b) => Number(b.total) - Number(a.total)).map(money), none) : failed('Expenses by department', dept.errors));
    replace(byMonth, month.data?.expenseSummary ? columnChart(`Approved expenses by month${whose}`, everyMonth(month.data.expenseSummary, period).map((r) => ({ ...money(r), label: r.key })), none) : failed('Expenses by month', month.errors));
    if (!stats) {
      replace(lag, h('figure', { class: 'chart' }, h('figcaption', {}, 'Sync lag by day'), note('info', `The sync lag needs one of the roles ${CAPABILITIES.syncStatistics.join(', ')}.`)));
      return;
    }
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

/** The month rows with a zero row for every month of the period without claims (none at all: no rows). */
function everyMonth(rows: SummaryRow[], period: { from: string; to: string }): SummaryRow[] {
  if (!rows.length) return [];
  const byKey = new Map(rows.map((r) => [r.key, r]));
  return monthsBetween(period.from, period.to).map((key) => byKey.get(key) ?? { key, label: null, count: 0, total: '0.00' });
}

function failed(what: string, errors: Parameters<typeof describeErrors>[0]): HTMLElement {
  return h('figure', { class: 'chart' }, h('figcaption', {}, what), note('error', errors.length ? describeErrors(errors) : 'No answer.'));
}
