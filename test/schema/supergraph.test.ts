// The checked-in supergraph is what composing the subgraphs' SDL gives today.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SUPERGRAPH_PATH, composeSupergraph } from '../../scripts/compose.ts';

describe('schema/supergraph.graphql', () => {
  it('is up to date with the subgraphs (run `npm run compose` after changing their SDL)', () => {
    expect(readFileSync(SUPERGRAPH_PATH, 'utf8')).toBe(composeSupergraph());
  });
});
