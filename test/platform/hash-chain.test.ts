// The one hash chain (platform/integration/hash-chain.ts) and its canonical JSON (platform/integration/canonical-json.ts).
// Digests already stored must still verify, so the canonical text must be byte for byte what the two hand-written
// functions wrote before: they are kept below as the reference, compared with the wrapper on every shape the callers
// hand over and on generated values, and chains written with the old code are inserted directly and verified with the
// new. Tampering is named as the old walks named it, and appends from several connections at once make one chain.
import { createHash } from 'node:crypto';
import mongoose, { type Connection, Schema, Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../platform/integration/canonical-json.ts';
import { HashChain, WALK_STEP, chainDigest, flatChainRules, verifyEntries } from '../../platform/integration/hash-chain.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import { verifyChain } from '../../subgraphs/archive/fixity.ts';
import { AccessLog, type AccessLogEntryDoc } from '../../subgraphs/archive/lifecycle/access-log.ts';
import type { ArchiveRecordDoc } from '../../subgraphs/archive/models.ts';
import { type AuditEntryDoc, AuditTrail } from '../../subgraphs/operations/audit/trail.ts';
import { useMongo } from '../helpers/mongo.ts';

// ── The old code, as it was before the shared chain: the reference ───────────────────────────────────────

/** subgraphs/archive/fixity.ts `canonical` (records, access log, filed content). */
function oldCanonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(oldCanonical).join(',')}]`;
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${oldCanonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** subgraphs/operations/audit/trail.ts `canonical` (the audit trail). */
function oldTrailCanonical(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(oldTrailCanonical).join(',')}]`;
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${oldTrailCanonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const contentOf = (content: string, mediaType: string): Buffer =>
  Buffer.from(content, /^(application\/(pdf|ofd|octet-stream)|image\/)/.test(mediaType) ? 'base64' : 'utf8');

function oldFixityDigest(record: ArchiveRecordDoc, previousDigest: string | null): string {
  const fixed = {
    chainSeq: record.chainSeq, archiveNo: record.archiveNo, kind: record.kind, category: record.category, title: record.title,
    fiscalYear: record.fiscalYear, retention: record.retention, voucherId: record.voucherId, sourceClaimNo: record.sourceClaimNo,
    invoiceNumbers: record.invoiceNumbers, mediaType: record.mediaType, contentDigest: record.contentDigest, correctsId: record.correctsId,
    filedBy: record.filedBy, filedAt: record.filedAt, environment: record.environment, previousArchiveNo: record.previousArchiveNo,
    previousDigest,
  };
  return sha256(oldCanonical(fixed));
}

function oldEntryDigest(e: Omit<AccessLogEntryDoc, '_id' | 'digest'>): string {
  return sha256(oldCanonical({ seq: e.seq, at: e.at, actorId: e.actorId, actorRoles: e.actorRoles, action: e.action, recordId: e.recordId, archiveNo: e.archiveNo, purpose: e.purpose, loanId: e.loanId, previousDigest: e.previousDigest }));
}

function oldAuditDigest(e: Omit<AuditEntryDoc, '_id' | 'digest'>): string {
  const fields = { seq: e.seq, at: e.at, actor: e.actor, roles: e.roles, address: e.address, source: e.source, action: e.action, operationName: e.operationName, outcome: e.outcome, durationMs: e.durationMs, previousDigest: e.previousDigest };
  return createHash('sha256').update(oldTrailCanonical(fields)).digest('hex');
}

/** subgraphs/archive/fixity.ts verifyChain, as it was. */
function oldVerifyRecords(records: ArchiveRecordDoc[]) {
  let checked = 0;
  let expectedSeq = 1;
  let previous: ArchiveRecordDoc | null = null;
  const broken = (archiveNo: string | null, problem: string) => ({ ok: false, checked, firstBrokenArchiveNo: archiveNo, problem });
  for (const r of records) {
    checked++;
    if (r.chainSeq !== expectedSeq) return broken(r.chainSeq > expectedSeq ? r.previousArchiveNo : r.archiveNo, r.chainSeq > expectedSeq ? 'REMOVED' : 'REORDERED');
    const previousDigest = previous?.fixity.digest ?? null;
    if (r.previousArchiveNo !== (previous?.archiveNo ?? null) || r.fixity.previousDigest !== previousDigest) return broken(previous?.archiveNo ?? r.archiveNo, 'CHANGED');
    if (r.fixity.digest !== oldFixityDigest(r, previousDigest)) return broken(r.archiveNo, 'CHANGED');
    if (r.content !== null && sha256(contentOf(r.content, r.mediaType)) !== r.contentDigest) return broken(r.archiveNo, 'CHANGED');
    previous = r;
    expectedSeq++;
  }
  return { ok: true, checked, firstBrokenArchiveNo: null, problem: null };
}

/** AccessLog.verify, as it was, over the entries in seq order and the counter. */
function oldVerifyAccessLog(entries: AccessLogEntryDoc[], counter: number | null) {
  let checked = 0;
  let expected = 1;
  let previousDigest: string | null = null;
  const broken = (seq: number, problem: string) => ({ ok: false, checked, firstBrokenSeq: seq, problem });
  for (const e of entries) {
    checked++;
    if (e.seq > expected) return broken(expected, 'REMOVED');
    if (e.seq < expected) return broken(e.seq, 'CHANGED');
    if (e.previousDigest !== previousDigest) return broken(e.seq - 1 || e.seq, 'CHANGED');
    const { _id, digest, ...rest } = e;
    if (digest !== oldEntryDigest(rest)) return broken(e.seq, 'CHANGED');
    previousDigest = digest;
    expected++;
  }
  if (counter !== null && counter >= expected) return broken(expected, 'REMOVED');
  return { ok: true, checked, firstBrokenSeq: null, problem: null };
}

/** AuditTrail.verify, as it was: pages of `seq >= expected` (up to the counter), 500 at a time. */
function oldVerifyAudit(all: AuditEntryDoc[], last: number | null) {
  let checked = 0;
  let expected = 1;
  let previousDigest: string | null = null;
  const broken = (seq: number) => ({ valid: false, checked, firstBrokenSeq: seq });
  for (;;) {
    const page = all.filter((e) => e.seq >= expected && (last === null || e.seq <= last)).sort((a, b) => a.seq - b.seq).slice(0, 500);
    for (const e of page) {
      if (e.seq !== expected) return broken(expected - 1);
      if (e.previousDigest !== previousDigest) return broken(Math.max(1, e.seq - 1));
      checked++;
      const { _id, digest, ...rest } = e;
      if (digest !== oldAuditDigest(rest)) return broken(e.seq);
      previousDigest = digest;
      expected++;
    }
    if (page.length < 500) break;
  }
  if (last !== null && last >= expected) return broken(expected - 1);
  return { valid: true, checked, firstBrokenSeq: null };
}

// ── Values as the callers hand them over ───────────────────────────────────────────────────────────────

const AT = new Date('2026-12-01T02:00:00.123Z');
const OID = new Types.ObjectId('0123456789abcdef01234567');
const TEXTS = [
  '', 'plain', '会计档案鉴定意见书 Q001-2024-D10-KJ-00001', '记账凭证 记-2025-12-0001 上海出差差旅费', 'quote " backslash \\ slash /',
  'newline\n tab\t return\r backspace\b formfeed\f', 'controls \u0000\u0001\u001f\u007f\u0080\u009f', 'separators \u2028 \u2029',
  'emoji 😀 astral 𠀀 flag 🇨🇳', 'private use \uE000\uF8FF', 'noncharacters \uFFFE\uFFFF', '<script>&amp;</script>',
  // Lone surrogates: the library refuses them; the wrapper writes JSON.stringify's escape, as the old code did.
  '\uD800', 'a\uDC00b', 'ends high \uD83D', 'pair then lone 😀\uD800', '\uDFFF\uD800 reversed pair',
];
const NUMBERS = [
  0, -0, 1, -1, 7, 0.1, 0.2 + 0.1, 1 / 3, 123.456, 4.35, 1e21, 1e-7, 1e-6, 123e-20, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, -1e-300, 1e300, 333333333.3333333, 2024, 86_400_000,
  // Refused by the library; null before and now.
  Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY,
];

class Money {
  constructor(readonly fen: number) {}
  toJSON() {
    return `¥${this.fen / 100}`;
  }
}

const SHAPES: Record<string, unknown> = {
  ...Object.fromEntries(TEXTS.map((t, i) => [`string ${i} ${JSON.stringify(t)}`, t])),
  ...Object.fromEntries(NUMBERS.map((n) => [`number ${Object.is(n, -0) ? '-0' : n}`, n])),
  'true': true,
  'false': false,
  'null': null,
  'undefined': undefined,
  'empty array': [],
  'empty object': {},
  'array with undefined, null and NaN': [undefined, null, Number.NaN, 1],
  'nested arrays': [[[]], [[1, [2, ['三']]]]],
  'object keys in UTF-16 order': { é: 1, z: 2, A: 3, '10': 4, '9': 5, '': 6, '😀': 7, '\uFFFF': 8, 'a b': 9, '"q"': 10, 'Ω': 11, 'ß': 12, '中': 13 },
  'undefined and null members': { a: undefined, b: null, c: [undefined], d: { e: undefined } },
  'deeply nested': { x: { y: { z: [1, { w: undefined, v: '深' }, [AT]] } } },
  'an own __proto__ member': JSON.parse('{"__proto__": {"x": 1}, "a": 2}'),
  'dates': [new Date(0), AT, new Date(8.64e15), new Date(-62198755200000)],
  'a date in an object': { at: AT, nested: { when: new Date('2025-01-31T16:00:00Z') } },
  'an ObjectId': OID,
  'an ObjectId in an object': { id: OID, ids: [OID] },
  'a Buffer': Buffer.from('档案'),
  'boxed primitives': [Object(5), Object('ab'), Object(true)],
  'a Map and a Set': { m: new Map([['a', 1]]), s: new Set([1]) },
  'a class with toJSON on its prototype': new Money(435),
  // What the callers build (subgraphs/archive/filing.ts voucherContent, lifecycle/appraisal.ts, destruction/register-filing.ts).
  'voucher content': {
    voucherNo: '记-2025-12-0001', date: '2025-12-31', fiscalYear: 2025, period: 12,
    entries: [
      { summary: '差旅费 上海', accountCode: '6602.01', accountName: '管理费用-差旅费', debit: '4350.00', credit: '0.00' },
      { summary: '报销 "张三"\n附件 3 张', accountCode: '1002', accountName: '银行存款', debit: '0.00', credit: '4350.00' },
    ],
    debitTotal: '4350.00', creditTotal: '4350.00',
    source: { claimId: OID.toHexString(), claimNo: 'BX-2025-0001', title: '上海出差', category: 'TRAVEL', applicantId: 'e1', applicantName: null, approvedAt: AT, invoiceNumbers: ['044031900111', '044031900112'], total: '4350.00' },
  },
  'appraisal content': {
    appraisalId: OID.toHexString(),
    record: { id: 'r1', archiveNo: 'Q001-2010-D10-KJ-00001', title: 'VAT 2010', kind: 'TAX_RETURN', fiscalYear: 2010, retention: 'Y10', retentionStartsOn: '2011-01-01', expiresOn: '2020-12-31' },
    opinion: '已到期，经鉴定可以销毁。\tNo further value.', conclusion: 'DESTROY', previousExpiresOn: '2020-12-31', extendedUntil: null, appraisedBy: 'a1', appraisedAt: AT,
  },
  'register content': {
    registerNo: 'XH-2026-0001', reason: '保管期满', proposedBy: 'p1', proposedAt: AT, handlerIds: ['p1', 'p2'], electronic: true,
    lines: [{ recordId: 'r1', title: 'VAT 2010', volumeNo: '00001', count: 1, fiscalYear: 2010, archiveNo: 'Q001-2010-D10-KJ-00001', kind: 'TAX_RETURN', retention: 'Y10', retentionYears: 10, retentionStartsOn: '2011-01-01', expiresOn: '2020-12-31', extendedUntil: null, yearsServed: 15, destroyedAt: AT }],
    signatures: [{ capacity: 'UNIT_HEAD', employeeId: 'u1', onBehalfOf: null, decision: 'APPROVE', comment: undefined, signedAt: AT }],
    destroyedAt: AT,
  },
  'fixity fields': { chainSeq: 12, archiveNo: 'Q001-2025-D30-PZ-00012', kind: 'BOOKKEEPING_VOUCHER', category: 'KJPZ', title: '记账凭证', fiscalYear: 2025, retention: 'Y30', voucherId: null, sourceClaimNo: null, invoiceNumbers: [], mediaType: 'application/json', contentDigest: 'a'.repeat(64), correctsId: null, filedBy: 'svc', filedAt: AT, environment: 'oa-archive-federation node/24.0.0', previousArchiveNo: null, previousDigest: null },
  'access log entry': { seq: 1, at: AT, actorId: 'u1', actorRoles: ['EMPLOYEE', 'AUDITOR'], action: 'READ_CONTENT', recordId: 'r1', archiveNo: 'Q001', purpose: '年度审计 2026', loanId: undefined, previousDigest: null },
  'audit entry': { seq: 3, at: AT, actor: null, roles: [], address: '::1', source: 'gateway', action: 'mutation decideApproval', operationName: 'Decide', outcome: 'FORBIDDEN', durationMs: undefined, previousDigest: 'b'.repeat(64) },
};

/** A small seeded generator, so a failure names a case that can be run again. */
function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}

const CHARS = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '中', '文', '档', 'é', '😀', '\uD800', '\uDFFF', '\uE000', '\uFFFF'];
const KEY_CHARS = CHARS.filter((c) => !/\p{Cs}/u.test(c));

function generate(r: ReturnType<typeof random>, depth: number): unknown {
  const text = (chars: string[]) => Array.from({ length: r.int(6) }, () => r.pick(chars)).join('');
  const kind = r.int(depth > 3 ? 8 : 11);
  switch (kind) {
    case 0: return text(CHARS);
    case 1: return r.pick(NUMBERS);
    case 2: {
      // Any double at all, from random bits: subnormals, huge, tiny, NaN payloads.
      const view = new DataView(new ArrayBuffer(8));
      view.setUint32(0, r.int(2 ** 32));
      view.setUint32(4, r.int(2 ** 32));
      return view.getFloat64(0);
    }
    case 3: return (r.next() - 0.5) * 10 ** (r.int(40) - 15);
    case 4: return r.pick([true, false, null, undefined]);
    case 5: return new Date(Math.floor((r.next() - 0.3) * 8e13));
    case 6: return new Types.ObjectId();
    case 7: return r.int(2 ** 31) - 2 ** 30;
    case 8:
    case 9: return Array.from({ length: r.int(4) }, () => generate(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [text(KEY_CHARS), generate(r, depth + 1)]));
  }
}

describe('canonical JSON', () => {
  it.each(Object.entries(SHAPES))('%s: the same bytes as the old functions', (_, value) => {
    expect(canonicalJson(value)).toBe(oldCanonical(value));
    expect(canonicalJson(value, { undefinedMembers: 'null' })).toBe(oldTrailCanonical(value));
  });

  it('gives the same bytes as the old functions on 5000 generated values', () => {
    for (let seed = 1; seed <= 5000; seed++) {
      const value = generate(random(seed), 0);
      expect(canonicalJson(value), `seed ${seed}`).toBe(oldCanonical(value));
      expect(canonicalJson(value, { undefinedMembers: 'null' }), `seed ${seed}`).toBe(oldTrailCanonical(value));
    }
  });

  it('is valid JSON that reads back as the value, lone surrogates included', () => {
    const value = { b: ['\uD800', 'x\uDFFFy', '中文'], a: { at: AT, n: -0, big: 1e21 } };
    const text = canonicalJson(value);
    expect(text).toBe('{"a":{"at":"2026-12-01T02:00:00.123Z","big":1e+21,"n":0},"b":["\\ud800","x\\udfffy","中文"]}');
    expect(JSON.parse(text)).toEqual({ a: { at: AT.toISOString(), big: 1e21, n: 0 }, b: ['\uD800', 'x\uDFFFy', '中文'] });
    // A string that looks like the wrapper's marker is just a string.
    expect(canonicalJson(['\uE000', '\uD800', '\uE0000:0\uE000'])).toBe(oldCanonical(['\uE000', '\uD800', '\uE0000:0\uE000']));
  });

  it('differs from the old functions only where they did not write JSON, which was never stored', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [, 1];
    expect(oldCanonical(sparse)).toBe('[,1]');
    expect(canonicalJson(sparse)).toBe('[null,1]');
    const withFunction = { f: () => 1, a: 1 };
    expect(oldCanonical(withFunction)).toBe('{"a":1,"f":undefined}');
    expect(canonicalJson(withFunction)).toBe('{"a":1}');
    // Keys are field names from code: one with a lone surrogate is refused.
    expect(() => canonicalJson({ '\uD800': 1 })).toThrow(/surrogate/i);
    // Refused by both: an invalid date and a bigint.
    expect(() => oldCanonical(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => canonicalJson(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => oldCanonical({ n: 1n })).toThrow(TypeError);
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
  });
});

// ── Chains in a database ───────────────────────────────────────────────────────────────────────────────

const mongo = useMongo('hash_chain');
let conn: Connection;

beforeAll(async () => {
  conn = await mongo.mongoose();
});

const counters = (c = conn) => c.db!.collection<{ _id: string; seq: number }>('counters');
const setCounter = (key: string, seq: number, c = conn) => counters(c).updateOne({ _id: key }, { $set: { seq } }, { upsert: true });
const PURPOSES = ['年度审计 2026', 'check "quoted"\nnext line', 'tab\there \u0001 control', 'emoji 😀 档案', 'separator \u2028 done', '/slash\\back'];

type Flat = { _id: Types.ObjectId; seq: number; previousDigest: string | null; digest: string };

/** Flat entries 1..n chained as the old code chained them: `fields` of each position, the digest by `digest`. */
function oldFlatChain<E extends Flat>(n: number, fields: (seq: number) => Omit<E, keyof Flat>, digest: (e: Omit<E, '_id' | 'digest'>) => string): E[] {
  const out: E[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const e = { seq, ...fields(seq), previousDigest: out.at(-1)?.digest ?? null } as Omit<E, '_id' | 'digest'>;
    out.push({ _id: new Types.ObjectId(), ...e, digest: digest(e) } as E);
  }
  return out;
}

/** Access log entries as the old code wrote them, the third without a loanId field at all (the old form left it out). */
const oldAccessEntries = (n: number) =>
  oldFlatChain<AccessLogEntryDoc>(
    n,
    (seq) => ({
      at: new Date(AT.getTime() + seq * 1000),
      actorId: `u${seq % 3}`,
      actorRoles: seq % 2 ? ['EMPLOYEE', 'AUDITOR'] : ['EMPLOYEE', 'ARCHIVIST'],
      action: seq % 4 ? 'READ_CONTENT' : 'LOAN_STARTED',
      recordId: `r${seq % 5}`,
      archiveNo: `Q001-2024-D10-KJ-0000${seq % 5}`,
      purpose: PURPOSES[seq % PURPOSES.length],
      ...(seq === 3 ? {} : { loanId: seq % 4 ? null : `loan${seq}` }),
    }) as Omit<AccessLogEntryDoc, keyof Flat>,
    oldEntryDigest,
  );

/** Audit entries as the old code wrote them, the second without a durationMs field (the old form wrote it as null). */
const oldAuditEntries = (n: number) =>
  oldFlatChain<AuditEntryDoc>(
    n,
    (seq) => ({
      at: new Date(AT.getTime() + seq * 1000),
      actor: seq % 3 ? `用户-${seq}` : null,
      roles: seq % 2 ? ['ADMIN'] : [],
      address: seq % 2 ? '10.0.0.1' : '::1',
      source: 'gateway',
      action: `mutation act${seq}`,
      operationName: seq % 2 ? `Op${seq}` : null,
      outcome: seq % 5 ? 'OK' : 'FORBIDDEN',
      ...(seq === 2 ? {} : { durationMs: seq * 7 }),
    }) as Omit<AuditEntryDoc, keyof Flat>,
    oldAuditDigest,
  );

/** Archive records as the old filing wrote them, their content canonical JSON by the old function. */
function oldRecords(n: number): ArchiveRecordDoc[] {
  const out: ArchiveRecordDoc[] = [];
  for (let chainSeq = 1; chainSeq <= n; chainSeq++) {
    const content = chainSeq === 2 ? Buffer.from('%PDF-1.7 档案').toString('base64') : oldCanonical(SHAPES['voucher content']);
    const mediaType = chainSeq === 2 ? 'application/pdf' : 'application/json';
    const previous = out.at(-1) ?? null;
    const record = {
      _id: new Types.ObjectId(), archiveNo: `Q001-2025-D30-PZ-0000${chainSeq}`, kind: 'BOOKKEEPING_VOUCHER', category: 'KJPZ', title: `记账凭证 ${chainSeq} "报销"`,
      fiscalYear: 2025, retention: 'Y30', retentionStartsOn: '2026-01-01', expiresOn: '2055-12-31', extendedUntil: null, disposedOn: null, status: 'FILED',
      voucherId: chainSeq % 2 ? `v${chainSeq}` : null, sourceClaimNo: chainSeq % 2 ? `BX-${chainSeq}` : null, invoiceNumbers: ['044031900111'], content, mediaType,
      contentDigest: sha256(contentOf(content, mediaType)), chainSeq, previousArchiveNo: previous?.archiveNo ?? null, correctsId: null, correctedById: null, holds: [],
      filedBy: 'archive-system', filedAt: new Date(AT.getTime() + chainSeq), environment: 'oa-archive-federation node/22.15.0', destroyedAt: null,
    } as unknown as ArchiveRecordDoc;
    const previousDigest = previous?.fixity.digest ?? null;
    record.fixity = { algorithm: 'SHA-256', digest: oldFixityDigest(record, previousDigest), previousDigest };
    out.push(record);
  }
  return out;
}

describe('chains written by the old code', () => {
  it('the access log verifies, and new appends continue it', async () => {
    const log = new AccessLog(conn);
    const entries = oldAccessEntries(12);
    await log.model.collection.insertMany(entries as never[]);
    await setCounter('archive_access_log', 12);
    expect(await log.verify()).toEqual({ ok: true, checked: 12, firstBrokenSeq: null, problem: null });
    const added = await transaction(conn, (session) =>
      log.append(session, { actorId: 'u9', actorRoles: ['AUDITOR'], action: 'READ_CONTENT', recordId: 'r1', archiveNo: 'Q001', purpose: '复核' }),
    );
    expect(added).toMatchObject({ seq: 13, previousDigest: entries[11].digest });
    expect(added.digest).toBe(oldEntryDigest(added));
    expect(await log.verify()).toEqual({ ok: true, checked: 13, firstBrokenSeq: null, problem: null });
  });

  it('the audit trail verifies, and new appends continue it', async () => {
    const trail = new AuditTrail(conn, () => new Date('2026-12-02T00:00:00Z'));
    const entries = oldAuditEntries(9);
    await trail.model.collection.insertMany(entries as never[]);
    await setCounter('audit_log', 9);
    expect(await trail.verify()).toEqual({ valid: true, checked: 9, firstBrokenSeq: null, problem: null });
    expect(await trail.append([{ at: '2026-12-01T12:00:00Z', actor: '审计员', roles: ['AUDITOR'], action: 'query auditLog', outcome: 'OK' }], 'gateway')).toEqual({ stored: 1, duplicates: 0, refused: [] });
    const [added] = await trail.model.find({ seq: 10 }).lean<AuditEntryDoc[]>();
    expect(added.previousDigest).toBe(entries[8].digest);
    expect(added.digest).toBe(oldAuditDigest(added));
    expect(await trail.verify()).toEqual({ valid: true, checked: 10, firstBrokenSeq: null, problem: null });
  });

  it('the archive records verify, read back from the database', async () => {
    const records = conn.db!.collection('archive_records_old');
    await records.insertMany(oldRecords(6) as never[]);
    const stored = (await records.find().sort({ chainSeq: 1 }).toArray()) as unknown as ArchiveRecordDoc[];
    expect(await verifyChain(stored)).toEqual({ ok: true, checked: 6, firstBrokenArchiveNo: null, problem: null });
  });
});

describe('tampering is named as the old walks named it', () => {
  // A database of its own without indexes, so that a duplicated position can be stored.
  let raw: Connection;
  beforeAll(async () => {
    raw = await mongoose.createConnection(mongo.uri, { dbName: `${mongo.dbName}_t`, autoIndex: false }).asPromise();
  });
  afterAll(async () => {
    await raw.dropDatabase().catch(() => {});
    await raw.close();
  });

  type Tamper = [name: string, change: <T extends { seq?: number; chainSeq?: number }>(entries: T[], key: 'seq' | 'chainSeq') => T[]];
  const TAMPERINGS: Tamper[] = [
    ['a field changed', (es) => es.map((e, i) => (i === 4 ? { ...e, purpose: 'x', outcome: 'OK', title: 'x' } : e))],
    ['the first entry changed', (es) => es.map((e, i) => (i === 0 ? { ...e, purpose: 'x', outcome: 'X', title: 'x' } : e))],
    ['the middle entry deleted', (es) => es.filter((_, i) => i !== 5)],
    ['the first entry deleted', (es) => es.slice(1)],
    ['the last entry deleted', (es) => es.slice(0, -1)],
    ['two entries swapped', (es, k) => es.map((e, i) => (i === 3 ? { ...e, [k]: 5 } : i === 4 ? { ...e, [k]: 4 } : e)).sort((a, b) => a[k]! - b[k]!)],
    ['an entry duplicated', (es) => [...es.slice(0, 4), { ...es[3], _id: new Types.ObjectId() }, ...es.slice(4)]],
    ['the digest rewritten', (es) => es.map((e, i) => (i === 6 ? { ...e, digest: 'f'.repeat(64), fixity: { algorithm: 'SHA-256', digest: 'f'.repeat(64), previousDigest: (e as { fixity?: { previousDigest: string } }).fixity?.previousDigest ?? null } } : e))],
    ['the first link set', (es) => es.map((e, i) => (i === 0 ? { ...e, previousDigest: 'e'.repeat(64), fixity: { algorithm: 'SHA-256', digest: 'd'.repeat(64), previousDigest: 'e'.repeat(64) } } : e))],
  ];

  it.each(TAMPERINGS)('archive records: %s', (name, change) => {
    const records = change(oldRecords(10), 'chainSeq');
    const old = oldVerifyRecords(records);
    // verifyArchiveChain is handed the records alone, without the counter: a record removed from the end goes unseen.
    expect(old.ok).toBe(name === 'the last entry deleted');
    return expect(verifyChain(records)).resolves.toEqual(old);
  });

  it('archive records: content changed, and a record edited with its digest recomputed', async () => {
    const records = oldRecords(6);
    const content = records.map((r, i) => (i === 2 ? { ...r, content: '{"n":999}' } : r));
    expect(oldVerifyRecords(content)).toMatchObject({ firstBrokenArchiveNo: records[2].archiveNo, problem: 'CHANGED' });
    expect(await verifyChain(content)).toEqual(oldVerifyRecords(content));
    const forged = records.map((r, i) => (i === 2 ? { ...r, title: 'forged', fixity: { ...r.fixity, digest: oldFixityDigest({ ...r, title: 'forged' }, r.fixity.previousDigest) } } : r));
    expect(oldVerifyRecords(forged)).toMatchObject({ firstBrokenArchiveNo: records[2].archiveNo, problem: 'CHANGED' });
    expect(await verifyChain(forged)).toEqual(oldVerifyRecords(forged));
  });

  it.each(TAMPERINGS)('the access log: %s', async (_, change) => {
    const log = new AccessLog(raw);
    await log.model.deleteMany({});
    await log.model.collection.insertMany(change(oldAccessEntries(10), 'seq') as never[]);
    await setCounter('archive_access_log', 10, raw);
    const stored = await log.model.find().sort({ seq: 1 }).lean<AccessLogEntryDoc[]>();
    const old = oldVerifyAccessLog(stored, 10);
    expect(old.ok).toBe(false);
    expect(await log.verify()).toEqual(old);
  });

  it.each(TAMPERINGS)('the audit trail: %s', async (_, change) => {
    const trail = new AuditTrail(raw);
    // The trail's schema builds its indexes whatever the connection says: built, then dropped.
    await trail.init();
    await trail.model.collection.dropIndexes();
    await trail.model.deleteMany({});
    await trail.model.collection.insertMany(change(oldAuditEntries(10), 'seq') as never[]);
    await setCounter('audit_log', 10, raw);
    const stored = await trail.model.find().lean<AuditEntryDoc[]>();
    const old = oldVerifyAudit(stored, 10);
    expect(old.valid).toBe(false);
    // The old result, and now also what the break is.
    expect(await trail.verify()).toEqual({ ...old, problem: expect.stringMatching(/^(CHANGED|REMOVED)$/) });
  });
});

// ── The chain itself, on a collection of its own ───────────────────────────────────────────────────────

interface NoteDoc {
  _id: Types.ObjectId;
  seq: number;
  text: string;
  previousDigest: string | null;
  digest: string;
}

const noteSchema = new Schema<NoteDoc>(
  { seq: { type: Number, required: true, unique: true }, text: String, previousDigest: { type: String, default: null }, digest: String },
  { collection: 'test_notes', versionKey: false },
);
const notes = (c: Connection) => {
  const model = (c.models.TestNote as mongoose.Model<NoteDoc> | undefined) ?? c.model<NoteDoc>('TestNote', noteSchema);
  return new HashChain({ ...flatChainRules<NoteDoc>((e) => chainDigest({ seq: e.seq, text: e.text, previousDigest: e.previousDigest })), model, counter: 'test_notes' });
};
const note = (text: string, { seq, previousDigest }: { seq: number; previousDigest: string | null }) => ({ seq, text, previousDigest });

describe('HashChain', () => {
  it('appends a batch in its own transaction, each entry chained to the one before', async () => {
    const chain = notes(conn);
    await chain.spec.model.init();
    const stored = await chain.append(['一', 'two', 'three'], note);
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(stored[0].previousDigest).toBeNull();
    expect(stored[1].previousDigest).toBe(stored[0].digest);
    expect(stored[2].digest).toBe(chainDigest({ seq: 3, text: 'three', previousDigest: stored[1].digest }));
    expect(await chain.verify()).toEqual({ ok: true, checked: 3, firstBroken: null, problem: null });
  });

  it('stores nothing when the check refuses an entry, and takes no position', async () => {
    const chain = notes(conn);
    const refuse = (e: Omit<NoteDoc, '_id'>) => {
      if (e.text === 'bad') throw new Error('refused');
    };
    await expect(chain.append(['fine', 'bad'], note, { check: refuse })).rejects.toThrow('refused');
    expect(await chain.spec.model.countDocuments()).toBe(3);
    expect((await counters().findOne({ _id: 'test_notes' }))?.seq).toBe(3);
  });

  it('appends in the caller transaction, and refuses a session outside one', async () => {
    const chain = notes(conn);
    const [four] = await transaction(conn, (session) => chain.append(['four'], note, { session }));
    expect(four.seq).toBe(4);
    const session = await conn.startSession();
    try {
      await expect(chain.append(['five'], note, { session })).rejects.toThrow('must run inside a transaction');
    } finally {
      await session.endSession();
    }
  });

  it('names the break: its position, what showed it, the entry and the successor', async () => {
    const chain = notes(conn);
    const all = await chain.spec.model.find().sort({ seq: 1 }).lean<NoteDoc[]>();
    const changed = all.map((e) => (e.seq === 2 ? { ...e, text: 'changed' } : e));
    expect(await verifyEntries(chain.spec, changed)).toMatchObject({ ok: false, checked: 2, problem: 'CHANGED', firstBroken: { seq: 2, by: 'digest', entry: changed[1], successor: null } });
    const rewritten = changed.map((e) => (e.seq === 2 ? { ...e, digest: chainDigest({ seq: 2, text: 'changed', previousDigest: e.previousDigest }) } : e));
    expect(await verifyEntries(chain.spec, rewritten)).toMatchObject({ checked: 3, problem: 'CHANGED', firstBroken: { seq: 2, by: 'link', entry: rewritten[1], successor: rewritten[2] } });
    expect(await verifyEntries(chain.spec, [all[0], all[2], all[3]])).toMatchObject({ checked: 2, problem: 'REMOVED', firstBroken: { seq: 2, by: 'order', entry: null, successor: all[2] } });
    expect(await verifyEntries(chain.spec, [all[0], all[1], all[1]])).toMatchObject({ checked: 3, problem: 'REORDERED', firstBroken: { seq: 2, by: 'order', entry: all[1], successor: null } });
    await chain.spec.model.deleteOne({ seq: 4 });
    expect(await chain.verify()).toEqual({ ok: false, checked: 3, problem: 'REMOVED', firstBroken: { seq: 4, by: 'counter', entry: null, successor: null } });
    await chain.spec.model.collection.insertOne(all[3]);
    expect((await chain.verify()).ok).toBe(true);
  });

  it('makes one unbroken chain of appends from several connections at once', async () => {
    // Each connection queues its own transactions (platform/integration/transactions.ts), so these overlap in the
    // database as appends from several processes would: the counter increments conflict and are retried.
    const connections = await Promise.all([1, 2, 3, 4].map(() => mongo.mongoose()));
    const before = await notes(conn).spec.model.countDocuments();
    await Promise.all(connections.flatMap((c, i) => Array.from({ length: 5 }, (_, j) => notes(c).append([`c${i}-${j}-a`, `c${i}-${j}-b`], note))));
    const chain = notes(conn);
    const all = await chain.spec.model.find().sort({ seq: 1 }).lean<NoteDoc[]>();
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: before + 40 }, (_, i) => i + 1));
    expect(await chain.verify()).toEqual({ ok: true, checked: before + 40, firstBroken: null, problem: null });
    // A batch stays together: both entries of one append are neighbours.
    for (const e of all.filter((x) => x.text.endsWith('-a'))) expect(all[e.seq].text).toBe(e.text.replace(/-a$/, '-b'));
  });

  it('keeps the access log and the audit trail unbroken under appends from several connections', async () => {
    const connections = await Promise.all([1, 2, 3].map(() => mongo.mongoose()));
    const logs = connections.map((c) => new AccessLog(c));
    const trails = connections.map((c) => new AuditTrail(c, () => new Date('2026-12-02T00:00:00Z')));
    const log = new AccessLog(conn);
    const trail = new AuditTrail(conn);
    await log.model.deleteMany({});
    await trail.model.deleteMany({});
    await setCounter('archive_access_log', 0);
    await setCounter('audit_log', 0);
    await Promise.all([
      ...connections.flatMap((c, i) =>
        Array.from({ length: 4 }, (_, j) =>
          transaction(c, (session) => logs[i].append(session, { actorId: `u${i}`, actorRoles: ['AUDITOR'], action: 'READ_CONTENT', recordId: `r${j}`, archiveNo: 'Q001', purpose: `并发 ${i}-${j}` })),
        ),
      ),
      ...trails.flatMap((t, i) => Array.from({ length: 4 }, (_, j) => t.append([{ at: AT, roles: [], action: `mutation c${i}x${j}`, outcome: 'OK' }], 'gateway'))),
    ]);
    expect(await log.verify()).toEqual({ ok: true, checked: 12, firstBrokenSeq: null, problem: null });
    expect(await trail.verify()).toEqual({ valid: true, checked: 12, firstBrokenSeq: null, problem: null });
  });

  it('walks a long chain in steps: reads of WALK_STEP entries, and the event loop turns between steps', async () => {
    // A connection of its own that reports every command's reply.
    const watched = await mongoose.createConnection(mongo.uri, { dbName: conn.name, monitorCommands: true }).asPromise();
    const chain = notes(watched);
    const before = await chain.spec.model.countDocuments();
    await chain.append(Array.from({ length: 3 * WALK_STEP }, (_, i) => `walk ${i}`), note);
    const total = before + 3 * WALK_STEP;
    const batches: number[] = [];
    const listen = (e: { commandName: string; reply: { cursor?: { ns?: string; firstBatch?: unknown[]; nextBatch?: unknown[] } } }) => {
      const cursor = e.reply.cursor;
      if (cursor?.ns?.endsWith('.test_notes') && (e.commandName === 'find' || e.commandName === 'getMore')) batches.push((cursor.firstBatch ?? cursor.nextBatch ?? []).length);
    };
    /** The most entries checked between two turns of the event loop while `walk` runs. */
    const longestRun = async (walk: (seen: () => void) => Promise<unknown>): Promise<number> => {
      let seen = 0;
      let mark = 0;
      let longest = 0;
      let walking = true;
      const turn = () => {
        longest = Math.max(longest, seen - mark);
        mark = seen;
        if (walking) setImmediate(turn);
      };
      setImmediate(turn);
      await walk(() => void seen++);
      walking = false;
      return Math.max(longest, seen - mark);
    };
    const client = watched.getClient();
    client.on('commandSucceeded', listen);
    try {
      expect(await longestRun(async (seen) => expect(await chain.verify(seen)).toEqual({ ok: true, checked: total, firstBroken: null, problem: null }))).toBeLessThanOrEqual(WALK_STEP);
    } finally {
      client.off('commandSucceeded', listen);
    }
    expect(batches.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...batches)).toBe(WALK_STEP);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(total);
    // Entries already in memory are walked in steps too.
    const all = await chain.spec.model.find().sort({ seq: 1 }).lean<NoteDoc[]>();
    await watched.close();
    const run = await longestRun(async (seen) => {
      const counted = (function* () {
        for (const e of all) {
          seen();
          yield e;
        }
      })();
      expect(await verifyEntries(chain.spec, counted)).toMatchObject({ ok: true, checked: total });
    });
    expect(run).toBeGreaterThan(0);
    expect(run).toBeLessThanOrEqual(WALK_STEP);
  });
});
