// How the soak (bench/soak.ts) prints its figures: percentiles, durations and sizes, the filing lag over time, and
// what the system logged.
import type { LogLine } from './soak-system.ts';

export function pct(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
export const ms = (v: number) => (Number.isNaN(v) ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
export const mib = (kb: number) => (Number.isNaN(kb) ? '–' : `${(kb / 1024).toFixed(0)} MiB`);

export function signedPct(ratio: number): string {
  if (Number.isNaN(ratio)) return '–';
  const p = (ratio - 1) * 100;
  return `${p >= 0 ? '+' : ''}${p.toFixed(1)}%`;
}

/** p99 of the lags approved in each 10 s of the load: a stall shows as one high window, a backlog as a rising run. */
export function lagTimeline(timed: [number, number][], seconds: number): string {
  const windows: number[][] = Array.from({ length: Math.ceil(seconds / 10) }, () => []);
  for (const [lag, at] of timed) windows[Math.min(windows.length - 1, Math.max(0, Math.floor(at / 10)))]!.push(lag);
  return windows.map((w, i) => `${i * 10}–${i * 10 + 10} s: ${w.length ? ms(pct(w, 99)) : '–'}`).join(', ');
}

/** The engine's slow commands by shape: how many, the slowest, and when (seconds into the load). */
export function slowCommands(lines: LogLine[], loadStartedAt: number): string {
  if (!lines.length) return 'Engine: no slow command (ENGINE_SLOW_MS, default 100 ms).';
  const byShape = new Map<string, { n: number; max: number; at: number[] }>();
  for (const { level: _l, time, pid: _p, hostname: _h, msg: _m, ms, ...shape } of lines) {
    const key = JSON.stringify(shape).slice(0, 300);
    const entry = byShape.get(key) ?? { n: 0, max: 0, at: [] };
    entry.n++;
    entry.max = Math.max(entry.max, Number(ms));
    entry.at.push(Math.round((Number(time) - loadStartedAt) / 1000));
    byShape.set(key, entry);
  }
  const rows = [...byShape].sort((a, b) => b[1].n * b[1].max - a[1].n * a[1].max).slice(0, 8);
  return [
    `Engine: ${lines.length} slow commands (ENGINE_SLOW_MS, default 100 ms), by shape (slowest first by total):`,
    '| count | max ms | seconds into the load | command |',
    '|---|---|---|---|',
    ...rows.map(([shape, e]) => `| ${e.n} | ${e.max} | ${e.at.slice(0, 8).join(', ')}${e.at.length > 8 ? ', …' : ''} | \`${shape}\` |`),
  ].join('\n');
}

export function topMessages(lines: LogLine[]): string {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.msg, (counts.get(l.msg) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([m, n]) => `${n}× "${m.slice(0, 120)}"`)
    .join(', ');
}
