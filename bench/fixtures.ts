// Realistic documents for the storage benchmarks (bench/engine.ts, bench/storage-spike.ts): expense claims of about
// 2 KB and archive records carrying about 20 KB of content, generated deterministically from their number, so a
// benchmark can regenerate any document it wrote (to check it, or to write it again).
import { Decimal128, ObjectId } from 'bson';

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same sequence on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'invoice travel meal hotel taxi train flight conference training office supplies printer paper client visit ' +
  'project milestone reimbursement approved pending finance manager director department quarter budget receipt ' +
  'voucher ledger account audit archive retention period fiscal year expense claim advance loan repayment tax ' +
  'amount currency exchange rate subsidy allowance overtime per diem mileage parking toll courier shipping customs'
).split(' ');

/** A pool of text to slice descriptions and contents from (cheaper than generating words per document). */
const POOL = (() => {
  const rnd = prng(42);
  const parts: string[] = [];
  let length = 0;
  while (length < 1_100_000) {
    const w = WORDS[Math.floor(rnd() * WORDS.length)];
    parts.push(w);
    length += w.length + 1;
  }
  return parts.join(' ');
})();

const text = (rnd: () => number, length: number): string => {
  const start = Math.floor(rnd() * (POOL.length - length - 1));
  return POOL.slice(start, start + length);
};

export const DEPARTMENTS = 20;
const BASE_TIME = Date.UTC(2023, 0, 1);
const CATEGORIES = ['TRAVEL', 'MEAL', 'HOTEL', 'TRANSPORT', 'OFFICE', 'TRAINING'];
const STATUSES = ['APPROVED', 'PAID', 'FILED', 'SUBMITTED'];

/** Deterministic 12-byte id of document `i` of a kind (kind 1: claims, 2: archive records, …). */
export function idOf(kind: number, i: number): ObjectId {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(0x64000000 + kind, 0);
  b.writeUInt32BE(Math.floor(i / 2 ** 32), 4);
  b.writeUInt32BE(i >>> 0, 8);
  return new ObjectId(b);
}

export const claimNo = (i: number): string => `EC-2024-${String(i).padStart(8, '0')}`;
export const departmentOf = (i: number): string => `D${String(i % DEPARTMENTS).padStart(3, '0')}`;

/** A Decimal128 of `n` hundredths built from its bytes (coefficient n, exponent -2): Decimal128.fromString parses
 * and took two thirds of the generator's time, which the insert benchmark's client pays on the same two cores. */
const DEC_HIGH = BigInt(6176 - 2) << 49n;
const fen = (n: number): Decimal128 => {
  const bytes = Buffer.alloc(16);
  bytes.writeBigUInt64LE(BigInt(n), 0);
  bytes.writeBigUInt64LE(DEC_HIGH, 8);
  return new Decimal128(bytes);
};

/** Expense claim `i`: about 2 KB of BSON (claimNo unique, departmentId + submittedAt indexed, Decimal128 money, an items array). */
export function claimDoc(i: number): Record<string, unknown> {
  const rnd = prng(i * 7 + 1);
  const submittedAt = new Date(BASE_TIME + i * 60_000 + Math.floor(rnd() * 60_000));
  let total = 0;
  const items = Array.from({ length: 6 }, (_, k) => {
    const amount = 1000 + Math.floor(rnd() * 200_000);
    total += amount;
    return {
      seq: k + 1,
      category: CATEGORIES[Math.floor(rnd() * CATEGORIES.length)],
      invoiceNo: `INV${String(Math.floor(rnd() * 1e10)).padStart(10, '0')}`,
      invoiceDate: new Date(submittedAt.getTime() - Math.floor(rnd() * 30) * 86_400_000),
      amount: fen(amount),
      tax: fen(Math.round(amount * 0.06)),
      description: text(rnd, 60),
    };
  });
  return {
    _id: idOf(1, i),
    claimNo: claimNo(i),
    departmentId: departmentOf(i),
    applicantId: idOf(9, i % 5000),
    title: text(rnd, 40),
    status: STATUSES[i % STATUSES.length],
    currency: 'CNY',
    totalAmount: fen(total),
    submittedAt,
    createdAt: new Date(submittedAt.getTime() - 3_600_000),
    updatedAt: new Date(submittedAt.getTime() + 86_400_000),
    items,
    approvals: [
      { step: 1, approverId: idOf(9, (i + 1) % 5000), decision: 'APPROVE', decidedAt: new Date(submittedAt.getTime() + 7_200_000), comment: text(rnd, 30) },
      { step: 2, approverId: idOf(9, (i + 2) % 5000), decision: 'APPROVE', decidedAt: new Date(submittedAt.getTime() + 86_000_000), comment: text(rnd, 30) },
    ],
    payee: { name: text(rnd, 12), bankName: 'Industrial and Commercial Bank of China', account: `6222${String(i).padStart(15, '0')}` },
    remarks: text(rnd, 180),
    version: 3,
  };
}

/** Archive record `i`: metadata and 20 KB of content. */
export function archiveDoc(i: number): Record<string, unknown> {
  const rnd = prng(i * 13 + 5);
  return {
    _id: idOf(2, i),
    archiveNo: `AR-2024-${String(i).padStart(8, '0')}`,
    fiscalYear: 2020 + (i % 5),
    period: 1 + (i % 12),
    category: 'VOUCHER',
    claimNo: claimNo(i * 10),
    retention: i % 3 === 0 ? 'PERMANENT' : 'Y30',
    filedAt: new Date(BASE_TIME + i * 600_000),
    content: text(rnd, 20 * 1024),
    attachments: [{ name: `voucher-${i}.pdf`, size: 10_000 + Math.floor(rnd() * 1e6), sha256: text(rnd, 64) }],
  };
}
