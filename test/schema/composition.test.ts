// The subgraphs' SDL in schema/ composes into one supergraph where the archive extends the OA's claims.
import { describe, expect, it } from 'vitest';
import { composeSupergraph } from '../../scripts/compose.ts';

describe('composition', () => {
  it('composes oa and archive, with ExpenseClaim extended by the archive', () => {
    const supergraph = composeSupergraph();
    expect(supergraph).toMatch(/type ExpenseClaim[^{]*\{[^}]*claimNo: String! @join__field\(graph: OA\)/s);
    expect(supergraph).toMatch(/type ExpenseClaim[^{]*\{[^}]*voucher: Voucher @join__field\(graph: ARCHIVE\)/s);
    expect(supergraph).toMatch(/type ExpenseClaim[^{]*\{[^}]*archiveRecord: ArchiveRecord @join__field\(graph: ARCHIVE\)/s);
  });
});
