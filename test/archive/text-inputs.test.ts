// The text policy at the archive subgraph's edge (platform/text-policy.ts), over HTTP: hostile text is refused
// with BAD_USER_INPUT naming the field before anything is stored; accepted text is stored NFC; an approved claim's
// refused texts are filed with the problems reported; a voucher's record title built from a long emoji title is
// clipped whole and passes the four-properties check.
import { describe, expect, it } from 'vitest';
import type { GqlResult } from '../helpers/graphql.ts';
import { ok } from '../oa/fixture.ts';
import { SYNC, approvedClaim, archivist, useArchiveSubgraph } from './fixture.ts';

const archive = useArchiveSubgraph('archive_text_inputs');
const FILE = `mutation($i: FileRecordInput!) { fileArchiveRecord(input: $i) { id title } }`;
const GENERATE = `mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id } }`;
const FILE_VOUCHER = `mutation($v: ID!) { fileVoucher(voucherId: $v) { id title } }`;
const CHECK = `query($id: ID!) { checkArchiveRecord(id: $id) { passed } }`;
const refusal = (r: GqlResult) => (r.errors ?? []).map((e) => [e.extensions?.code, (e.extensions as { field?: string } | undefined)?.field, e.message]);
const record = (title: string) => ({ kind: 'TAX_RETURN', title, fiscalYear: 2025, content: '{"n":1}', mediaType: 'application/json' });

describe('free text at the archive edge', () => {
  it('refuses hostile titles, reasons and claim texts, and stores accepted ones NFC', async () => {
    const before = await archive.services.models.ArchiveRecord.countDocuments();
    expect(refusal(await archive.gql(archivist(), FILE, { i: record('VAT\u202E2025') }))).toEqual([['BAD_USER_INPUT', 'title', 'title contains the bidirectional control U+202E at position 4']]);
    expect(refusal(await archive.gql(archivist(), FILE, { i: record('VAT\n2025') }))).toEqual([['BAD_USER_INPUT', 'title', 'title contains the control character U+000A at position 4']]);
    expect(await archive.services.models.ArchiveRecord.countDocuments()).toBe(before);

    const filed = ok(await archive.gql<{ fileArchiveRecord: { id: string; title: string } }>(archivist(), FILE, { i: record('  Taxe sur la valeur ajoute\u0301e — 增值税 2025 ') })).fileArchiveRecord;
    expect(filed.title).toBe('Taxe sur la valeur ajoutée — 增值税 2025');

    const hold = `mutation($id: ID!, $r: String!) { placeHold(recordId: $id, reason: $r) { status } }`;
    expect(refusal(await archive.gql(archivist(), hold, { id: filed.id, r: 'open\u0000matter' }))).toEqual([['BAD_USER_INPUT', 'reason', 'reason contains the control character U+0000 at position 5']]);
    ok(await archive.gql(archivist(), hold, { id: filed.id, r: 'מחלוקת פתוחה\nopen dispute' }));
    const stored = await archive.services.models.ArchiveRecord.findById(filed.id).lean();
    expect(stored!.holds.map((h) => h.reason)).toEqual(['מחלוקת פתוחה\nopen dispute']);

  });

  it("files an approved claim whose texts the policy refuses, with the problems in the record's filing report", async () => {
    // An approved claim is final and always filed (docs/api.md#approved-claims-are-always-filed): its texts are kept
    // as received and what is wrong with them is reported, never a reason to refuse.
    const voucher = ok(await archive.gql<{ generateVoucher: { id: string } }>(SYNC, GENERATE, { c: approvedClaim({ title: 'Taxi\tShanghai', applicantName: 'Alice\uFFFD' }) })).generateVoucher;
    const stored = await archive.services.models.Voucher.findById(voucher.id).lean();
    expect(stored!.source.title).toBe('Taxi\tShanghai');
    expect(stored!.source.textProblems).toEqual([
      'title contains the control character U+0009 at position 5',
      'applicantName contains the replacement character U+FFFD, the mark of an earlier decoding error at position 6',
    ]);
    const REPORT = `mutation($v: ID!) { fileVoucher(voucherId: $v) { id title filingReport { passed results { property check passed detail } } } }`;
    type Filed = { id: string; title: string; filingReport: { passed: boolean; results: { property: string; check: string; passed: boolean; detail: string }[] } };
    const filed = ok(await archive.gql<{ fileVoucher: Filed }>(SYNC, REPORT, { v: voucher.id })).fileVoucher;
    expect(filed.filingReport.passed).toBe(false);
    const failed = filed.filingReport.results.filter((r) => !r.passed);
    expect(failed.map((r) => `${r.property} ${r.check}`)).toEqual(['USABILITY metadata-readable']);
    expect(failed[0].detail).toBe(
      'title contains the control character U+0009 at position 24; source claim title contains the control character U+0009 at position 5; ' +
        'source claim applicantName contains the replacement character U+FFFD, the mark of an earlier decoding error at position 6',
    );
    // The check of the record in custody finds the same problem; it is a finding, not a refusal.
    expect(ok(await archive.gql<{ checkArchiveRecord: { passed: boolean } }>(archivist(), CHECK, { id: filed.id })).checkArchiveRecord.passed).toBe(false);
  });

  it('clips the record title of a voucher by code points, so a long emoji title still passes the four-properties check', async () => {
    // 200 characters; behind the 20 of "记账凭证 记-YYYY-MM-NNNN " the 200th UTF-16 unit is half an emoji.
    const title = `${'a'.repeat(11)}${'😀'.repeat(189)}`;
    const voucher = ok(await archive.gql<{ generateVoucher: { id: string } }>(SYNC, GENERATE, { c: approvedClaim({ title }) })).generateVoucher;
    const filed = ok(await archive.gql<{ fileVoucher: { id: string; title: string } }>(SYNC, FILE_VOUCHER, { v: voucher.id })).fileVoucher;
    expect([...filed.title]).toHaveLength(200);
    expect(filed.title.endsWith('😀')).toBe(true);
    expect(ok(await archive.gql<{ checkArchiveRecord: { passed: boolean } }>(archivist(), CHECK, { id: filed.id })).checkArchiveRecord.passed).toBe(true);
  });
});
