import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql ships CJS (main) and ESM (module) builds; Node loads the CJS one for every dependency, so tests must
  // too, or a schema built by a dependency (the gateway's stitched schema) is "from another module or realm".
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts', 'platform/**/*.test.ts', 'engine/**/*.test.ts', 'subgraphs/**/*.test.ts', 'gateway/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real servers on loopback ports; files run in parallel workers, tests within a file in order.
    pool: 'forks',
  },
});
