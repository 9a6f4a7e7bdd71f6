// Dates within reason through the real archive subgraph (platform/input-bounds.ts): disposal dates, fiscal years,
// approval instants and totals of approved claims; each bound refused naming the field, the bounds accepted.
import { describe, expect, it } from 'vitest';
import { today } from '../../platform/graphql.ts';
import { addDays } from '../../platform/input-bounds.ts';
import { type GqlResult, codes, ok } from '../oa/fixture.ts';
import { SYNC, approvedClaim, archivist, useArchiveSubgraph } from './fixture.ts';

const archive = useArchiveSubgraph('archive_input_bounds');

const FILE_RECORD = `mutation($i: FileRecordInput!) { fileArchiveRecord(input: $i) { id fiscalYear retentionStartsOn expiresOn } }`;
const GENERATE = `mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id date debitTotal } }`;
type Filed = { id: string; fiscalYear: number; retentionStartsOn: string; expiresOn: string | null };

const card = (fiscalYear: number, disposedOn?: string) => ({ kind: 'FIXED_ASSET_CARD', title: `Lathe ${fiscalYear} ${disposedOn ?? ''}`, fiscalYear, content: '{"asset":"lathe"}', mediaType: 'application/json', disposedOn });
const file = (input: Record<string, unknown>) => archive.gql<{ fileArchiveRecord: Filed }>(archivist(), FILE_RECORD, { i: input });
/** The codes of a refused call, and the first error's field (extensions.field) and message. */
const refusal = <T,>(res: GqlResult<T>) => ({
  codes: codes(res as GqlResult),
  field: (res.errors?.[0].extensions as { field?: string } | undefined)?.field,
  message: res.errors?.[0].message,
});
const todayHere = () => today('Asia/Shanghai');
const records = () => archive.services.models.ArchiveRecord.countDocuments();

describe('fixed-asset cards', () => {
  it('refuses a 2026 card disposed of in 1950 (expired in 1955, destroyable at once), and files nothing', async () => {
    const before = await records();
    expect(refusal(await file(card(2026, '1950-06-30')))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'disposedOn',
      message: "disposedOn must not be before the record's fiscal year 2026 (earliest 2026-01-01)",
    });
    expect(await records()).toBe(before);
  });

  it('accepts a disposal on the first day of the fiscal year and today, refuses tomorrow', async () => {
    const t = todayHere();
    const year = Number(t.slice(0, 4));
    const first = ok(await file(card(year, `${year}-01-01`))).fileArchiveRecord;
    expect(first).toMatchObject({ fiscalYear: year, retentionStartsOn: `${year + 1}-01-01`, expiresOn: `${year + 5}-12-31` });
    expect(ok(await file(card(year, t))).fileArchiveRecord.expiresOn).toBe(`${year + 5}-12-31`);
    expect(refusal(await file(card(year, addDays(t, 1))))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'disposedOn',
      message: `disposedOn must not be in the future (${t} in Asia/Shanghai)`,
    });
  });

  it('refuses year 0100 in the Date scalar', async () => {
    const res = await file(card(2026, '0100-01-01'));
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0].message).toMatch(/Date 0100-01-01 is out of range: years 1900 to 2200 only/);
  });
});

describe('fiscal years', () => {
  it('accepts 1949 and the current year, refuses 1948 and next year, in filing and in filters', async () => {
    const year = Number(todayHere().slice(0, 4));
    const report = (fiscalYear: number) => ({ kind: 'ANNUAL_REPORT', title: `Annual report ${fiscalYear}`, fiscalYear, content: '{}', mediaType: 'application/json' });
    expect(ok(await file(report(1949))).fileArchiveRecord.fiscalYear).toBe(1949);
    expect(ok(await file(report(year))).fileArchiveRecord.fiscalYear).toBe(year);
    for (const fiscalYear of [1948, year + 1]) {
      expect(refusal(await file(report(fiscalYear)))).toEqual({ codes: ['BAD_USER_INPUT'], field: 'fiscalYear', message: `fiscalYear must be a year from 1949 to ${year}, the current year` });
    }
    expect(codes(await archive.gql(archivist(), '{ archiveRecords(fiscalYear: 20260) { totalCount } }'))).toEqual(['BAD_USER_INPUT']);
    expect(ok(await archive.gql<{ archiveRecords: { totalCount: number } }>(archivist(), '{ archiveRecords(fiscalYear: 1949) { totalCount } }')).archiveRecords.totalCount).toBe(1);
  });
});

describe('approved claims', () => {
  it('refuses an approval in the future and an item dated tomorrow, accepts an approval now', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect(refusal(await archive.gql(SYNC, GENERATE, { c: approvedClaim({ approvedAt: future }) }))).toMatchObject({ codes: ['BAD_USER_INPUT'], field: 'approvedAt' });
    const t = todayHere();
    const tomorrow = approvedClaim({ approvedAt: new Date().toISOString(), total: '1.00', items: [{ description: 'x', amount: '1.00', occurredOn: addDays(t, 1) }] });
    expect(refusal(await archive.gql(SYNC, GENERATE, { c: tomorrow }))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'items[0].occurredOn',
      message: `items[0].occurredOn must not be in the future (${t} in Asia/Shanghai)`,
    });
    const now = approvedClaim({ approvedAt: new Date().toISOString(), total: '1.00', items: [{ description: 'x', amount: '1.00', occurredOn: t }] });
    expect(ok(await archive.gql<{ generateVoucher: { date: string } }>(SYNC, GENERATE, { c: now })).generateVoucher.date).toBe(t);
  });

  it('refuses items whose sum leaves the Money range as BAD_USER_INPUT, not INTERNAL_SERVER_ERROR', async () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ description: `item ${i}`, amount: '9999999999999.99', occurredOn: '2026-11-02' }));
    expect(refusal(await archive.gql(SYNC, GENERATE, { c: approvedClaim({ total: '9999999999999.99', items }) }))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'items',
      message: 'items: the total must not exceed 9999999999999.99',
    });
  });
});
