// The subgraphs' SDL in schema/ composes into one supergraph.
import { readFileSync } from 'node:fs';
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';

const sdl = (...files: string[]) => parse(files.map((f) => readFileSync(new URL(`../../schema/${f}`, import.meta.url), 'utf8')).join('\n'));

describe('composition', () => {
  it('composes oa and archive, with ExpenseClaim extended by the archive', () => {
    const result = composeServices([
      { name: 'oa', typeDefs: sdl('oa.graphql'), url: 'http://oa/graphql' },
      { name: 'archive', typeDefs: sdl('archive.graphql', 'archive-lifecycle.graphql'), url: 'http://archive/graphql' },
    ]);
    if (compositionHasErrors(result)) throw new Error(result.errors.map((e) => e.message).join('\n'));
    expect(result.supergraphSdl).toMatch(/type ExpenseClaim[^{]*\{[^}]*voucher: Voucher[^}]*archiveRecord: ArchiveRecord/s);
    expect(result.supergraphSdl).toMatch(/type ExpenseClaim[^{]*\{[^}]*claimNo: String!/s);
  });
});
