// The resolver and model types are generated from the SDL; this fails when they were not regenerated.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TARGETS, generate } from '../../scripts/codegen.ts';

describe('generated GraphQL types', () => {
  for (const target of TARGETS) {
    it(`${target.out} matches ${target.sdl.join(' + ')} (run \`npm run codegen\` after changing the SDL)`, async () => {
      const current = readFileSync(new URL(`../../${target.out}`, import.meta.url), 'utf8');
      expect(current).toBe(await generate(target));
    });
  }
});
