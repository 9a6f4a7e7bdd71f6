// DOM helpers. Text is only ever set through text nodes (textContent), never parsed as HTML, so whatever the API
// returns is shown as text: nothing here uses innerHTML.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

/** An element with attributes (`on…` keys become listeners) and children (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element (charts), with the same conventions as h(). */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

function append(el: Element, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

/** "2026-11-28T03:48:05.123Z" → "2026-11-28 03:48:05" in the browser's time zone. */
export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Today's times as HH:MM:SS, others as YYYY-MM-DD HH:MM; the full time on hover. */
export function when(iso: string | null | undefined): HTMLElement | string {
  if (!iso) return '—';
  const full = time(iso);
  const today = time(new Date().toISOString()).slice(0, 10);
  return h('time', { datetime: iso, title: full, class: 'when' }, full.startsWith(today) ? full.slice(11) : full.slice(0, 16));
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value < 1000 ? `${value} ms` : value < 60_000 ? `${(value / 1000).toFixed(1)} s` : `${(value / 60_000).toFixed(1)} min`;
}

/** A message line: info, ok or error (the text is the message, as text). */
export function note(kind: 'info' | 'ok' | 'error', text: string): HTMLElement {
  return h('p', { class: `note note-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** A small status badge whose class follows the value (e.g. badge-DEAD). */
export function badge(value: string): HTMLElement {
  return h('span', { class: `badge badge-${value.replace(/[^A-Za-z0-9_-]/g, '')}` }, value);
}
