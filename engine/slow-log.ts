// Slow commands, as MongoDB's slowms: the engine answers on one thread, so a command that holds it for long holds up
// every client. The line names the command, its namespace and the shape of its filter (field paths and operators,
// every value replaced by its type), never a value: filters carry bank account and ID numbers.
import type { Doc } from './values.ts';
import { rawDocumentsOf } from './wire.ts';

/** MongoDB's default slowms. */
export const DEFAULT_SLOW_MS = 100;

const MAX_DEPTH = 4;
const MAX_KEYS = 24;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'date';
  if (typeof v === 'object') return (v as { _bsontype?: string })._bsontype?.toLowerCase() ?? 'object';
  return typeof v;
}

/** The filter with its values replaced by their type names: `{ status: 'string', dueAt: { $lte: 'date' } }`. */
export function shapeOf(v: unknown, depth = 0): unknown {
  if (Array.isArray(v)) return depth >= MAX_DEPTH ? 'array' : v.slice(0, 4).map((x) => shapeOf(x, depth + 1));
  const type = typeName(v);
  if (type !== 'object' || depth >= MAX_DEPTH) return type;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v as Doc).slice(0, MAX_KEYS)) out[key] = shapeOf((v as Doc)[key], depth + 1);
  return out;
}

/** What the slow-command line says of a command body. */
export function describeCommand(body: Doc, ms: number): Record<string, unknown> {
  const command = Object.keys(body)[0] ?? '';
  const target = body[command];
  const line: Record<string, unknown> = { command, ms: Math.round(ms) };
  if (typeof target === 'string') line.ns = `${String(body.$db)}.${target}`;
  if (body.filter !== undefined) line.filter = shapeOf(body.filter);
  if (Array.isArray(body.pipeline)) line.pipeline = body.pipeline.map((stage: unknown) => Object.keys(stage as Doc)[0]);
  for (const list of ['updates', 'deletes'] as const) {
    const first = Array.isArray(body[list]) ? (body[list] as Doc[])[0] : undefined;
    if (first?.q !== undefined) line.filter = shapeOf(first.q);
    if (Array.isArray(body[list])) line.statements = (body[list] as unknown[]).length;
  }
  const raws = rawDocumentsOf(body); // counted without decoding an insert's documents
  if (raws) line.documents = raws.length;
  else if (Array.isArray(body.documents)) line.documents = body.documents.length;
  return line;
}
