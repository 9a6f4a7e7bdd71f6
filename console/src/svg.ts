// Small hand-written SVG charts (no chart library, nothing from a CDN): horizontal bars, columns and lines. Labels
// are text nodes; colours come from the stylesheet (classes), never from inline styles.
import { h, s } from './dom.ts';

export interface Bar {
  label: string;
  value: number;
  /** What is printed at the end of the bar (e.g. the Money string). */
  text: string;
  title?: string;
}

const W = 520;

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= max) ?? max;
}

const empty = (text: string) => h('p', { class: 'muted chart-empty' }, text);

/** One horizontal bar per row: label, bar, value. */
export function barChart(title: string, bars: Bar[], emptyText = 'No data for this period.'): HTMLElement {
  if (!bars.length) return h('figure', { class: 'chart' }, h('figcaption', {}, title), empty(emptyText));
  const labelW = 130;
  const valueW = 90;
  const rowH = 24;
  const height = bars.length * rowH + 8;
  const max = Math.max(...bars.map((b) => b.value), 0) || 1;
  const span = W - labelW - valueW;
  return h(
    'figure',
    { class: 'chart' },
    h('figcaption', {}, title),
    s(
      'svg',
      { viewBox: `0 0 ${W} ${height}`, class: 'chart-svg', role: 'img', 'aria-label': title },
      bars.map((b, i) => {
        const y = 4 + i * rowH;
        const w = Math.max(1, (b.value / max) * span);
        return s(
          'g',
          { class: 'bar-row' },
          s('title', {}, b.title ?? `${b.label}: ${b.text}`),
          s('text', { x: labelW - 8, y: y + rowH / 2 + 4, class: 'axis-label', 'text-anchor': 'end' }, truncate(b.label, 18)),
          s('rect', { x: labelW, y: y + 3, width: w.toFixed(1), height: rowH - 6, rx: 3, class: `bar bar-${i % 6}` }),
          s('text', { x: labelW + w + 6, y: y + rowH / 2 + 4, class: 'value-label' }, b.text),
        );
      }),
    ),
  );
}

/** One column per label (e.g. months), with a value axis. */
export function columnChart(title: string, bars: Bar[], emptyText = 'No data for this period.'): HTMLElement {
  if (!bars.length) return h('figure', { class: 'chart' }, h('figcaption', {}, title), empty(emptyText));
  const height = 240;
  const left = 64;
  const bottom = 28;
  const top = 18;
  const plotH = height - bottom - top;
  const max = niceMax(Math.max(...bars.map((b) => b.value)));
  const slot = (W - left - 8) / bars.length;
  const colW = Math.max(4, Math.min(48, slot * 0.7));
  return h(
    'figure',
    { class: 'chart' },
    h('figcaption', {}, title),
    s(
      'svg',
      { viewBox: `0 0 ${W} ${height}`, class: 'chart-svg', role: 'img', 'aria-label': title },
      axis(left, top, plotH, max, (v) => compact(v)),
      bars.map((b, i) => {
        const hgt = (b.value / max) * plotH;
        const x = left + i * slot + (slot - colW) / 2;
        return s(
          'g',
          { class: 'bar-col' },
          s('title', {}, b.title ?? `${b.label}: ${b.text}`),
          s('rect', { x: x.toFixed(1), y: (top + plotH - hgt).toFixed(1), width: colW.toFixed(1), height: Math.max(0.5, hgt).toFixed(1), rx: 2, class: 'bar bar-0' }),
          bars.length <= 16 || i % Math.ceil(bars.length / 12) === 0 ? s('text', { x: (x + colW / 2).toFixed(1), y: height - 10, class: 'axis-label', 'text-anchor': 'middle' }, b.label) : null,
        );
      }),
    ),
  );
}

export interface Series {
  name: string;
  values: (number | null)[];
}

/** Lines over labelled points (e.g. days); null values leave gaps. */
export function lineChart(title: string, labels: string[], series: Series[], format: (v: number) => string, emptyText = 'No data for this period.'): HTMLElement {
  const all = series.flatMap((x) => x.values).filter((v): v is number => v !== null);
  if (!labels.length || !all.length) return h('figure', { class: 'chart' }, h('figcaption', {}, title), empty(emptyText));
  const height = 240;
  const left = 64;
  const bottom = 28;
  const top = 18;
  const plotH = height - bottom - top;
  const plotW = W - left - 12;
  const max = niceMax(Math.max(...all));
  const x = (i: number) => left + (labels.length === 1 ? plotW / 2 : (i / (labels.length - 1)) * plotW);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const every = Math.max(1, Math.ceil(labels.length / 8));
  return h(
    'figure',
    { class: 'chart' },
    h('figcaption', {}, title, ' ', series.map((ser, k) => h('span', { class: `legend legend-${k}` }, ser.name))),
    s(
      'svg',
      { viewBox: `0 0 ${W} ${height}`, class: 'chart-svg', role: 'img', 'aria-label': title },
      axis(left, top, plotH, max, format),
      labels.map((l, i) => (i % every === 0 ? s('text', { x: x(i).toFixed(1), y: height - 10, class: 'axis-label', 'text-anchor': 'middle' }, l.slice(5)) : null)),
      series.map((ser, k) => {
        const segments: string[] = [];
        let current = '';
        ser.values.forEach((v, i) => {
          if (v === null) {
            if (current) segments.push(current);
            current = '';
          } else current += `${current ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        });
        if (current) segments.push(current);
        return s(
          'g',
          { class: `series series-${k}` },
          segments.map((d) => s('path', { d, class: 'line' })),
          ser.values.map((v, i) => (v === null ? null : s('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3, class: 'dot' }, s('title', {}, `${labels[i]} ${ser.name}: ${format(v)}`)))),
        );
      }),
    ),
  );
}

function axis(left: number, top: number, plotH: number, max: number, format: (v: number) => string): SVGGElement {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return s(
    'g',
    { class: 'axis' },
    ticks.map((t) => {
      const y = top + plotH - t * plotH;
      return s('g', {}, s('line', { x1: left, x2: W - 8, y1: y.toFixed(1), y2: y.toFixed(1), class: t === 0 ? 'baseline' : 'gridline' }), s('text', { x: left - 6, y: (y + 4).toFixed(1), class: 'axis-label', 'text-anchor': 'end' }, format(max * t)));
    }),
  );
}

function truncate(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

export function compact(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(v >= 1e7 ? 0 : 1)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

export interface StripRow {
  name: string;
  /** One per point: up, down, or null (no sample). */
  states: ('UP' | 'DOWN' | null)[];
}

/** Availability over time: one row of cells per component, red where a probe failed, grey where none ran. */
export function statusStrip(title: string, labels: string[], rows: StripRow[], emptyText = 'No samples in this period.'): HTMLElement {
  if (!labels.length || !rows.length) return h('figure', { class: 'chart' }, h('figcaption', {}, title), empty(emptyText));
  const left = 80;
  const rowH = 22;
  const top = 4;
  const bottom = 22;
  const height = top + rows.length * rowH + bottom;
  const cellW = (W - left - 12) / labels.length;
  const every = Math.max(1, Math.ceil(labels.length / 6));
  return h(
    'figure',
    { class: 'chart' },
    h('figcaption', {}, title, ' ', h('span', { class: 'legend legend-up' }, 'up'), h('span', { class: 'legend legend-down' }, 'down')),
    s(
      'svg',
      { viewBox: `0 0 ${W} ${height}`, class: 'chart-svg', role: 'img', 'aria-label': title },
      rows.map((row, r) =>
        s(
          'g',
          { class: 'strip-row', 'data-name': row.name },
          s('text', { x: left - 6, y: top + r * rowH + 15, class: 'axis-label', 'text-anchor': 'end' }, row.name),
          row.states.map((state, i) =>
            s(
              'rect',
              { x: (left + i * cellW).toFixed(1), y: top + r * rowH + 2, width: Math.max(cellW - 0.5, 0.5).toFixed(2), height: rowH - 6, class: `cell cell-${state ?? 'none'}` },
              s('title', {}, `${row.name} ${labels[i]}: ${state ?? 'no sample'}`),
            ),
          ),
        ),
      ),
      labels.map((l, i) => (i % every === 0 ? s('text', { x: (left + i * cellW).toFixed(1), y: height - 6, class: 'axis-label' }, l.slice(11)) : null)),
    ),
  );
}
