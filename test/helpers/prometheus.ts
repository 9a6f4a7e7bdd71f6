// Reads Prometheus text exposition and checks the naming conventions of issue 14: each family declared once,
// counters end in _total, time in seconds (`_seconds`, never `_ms`), no gauge with a `quantile` label.

export interface Family {
  name: string;
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The families of an exposition, in order; throws when a family is declared twice. */
export function parseExposition(text: string): Family[] {
  const families: Family[] = [];
  const byName = new Map<string, Family>();
  const declared = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      if (declared.has(type[1])) throw new Error(`metric ${type[1]} is exported twice`);
      declared.add(type[1]);
      const family: Family = { name: type[1], type: type[2], samples: [] };
      families.push(family);
      byName.set(family.name, family);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line.slice(0, 200)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2];
    const family = byName.get(m[1]) ?? byName.get(m[1].replace(/_(bucket|sum|count)$/, ''));
    if (!family) throw new Error(`sample ${m[1]} has no # TYPE`);
    family.samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return families;
}

/** What breaks the naming conventions; empty when nothing does. */
export function conventionProblems(text: string): string[] {
  const problems: string[] = [];
  for (const f of parseExposition(text)) {
    if (f.type === 'counter' && !f.name.endsWith('_total')) problems.push(`${f.name}: a counter not ending in _total`);
    // prom-client's default nodejs_active_{handles,requests,resources}_total are gauges by that name (its defaults,
    // which Node.js dashboards expect); the project's own metrics keep _total for counters.
    if (f.type !== 'counter' && f.name.endsWith('_total') && !/^nodejs_active_[a-z]+_total$/.test(f.name)) problems.push(`${f.name}: a ${f.type} ending in _total`);
    if (/_(ms|millis|milliseconds|minutes|hours)(_|$)/.test(f.name)) problems.push(`${f.name}: time not in seconds`);
    if (/(duration|latency|lag|probe)(?!.*_seconds)/.test(f.name) && !/_p\d+_seconds$/.test(f.name)) problems.push(`${f.name}: a time without _seconds`);
    if (f.type === 'gauge' && f.samples.some((s) => 'quantile' in s.labels)) problems.push(`${f.name}: a gauge with a quantile label`);
  }
  return problems;
}
