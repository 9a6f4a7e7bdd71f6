// Typed client code for the gateway's public API, with GraphQL Code Generator's client preset:
//   npx graphql-codegen --config examples/client/codegen.ts
// It reads the published schema (schema/api.graphql, never the supergraph with its federation internals) and the
// operations in operations/, and writes typed documents to generated/. Money (decimal yuan as a string, exact to the
// fen), Date and DateTime (ISO 8601 strings) come out as string, never any. test/schema/api.test.ts runs it.
import type { CodegenConfig } from '@graphql-codegen/cli';

export const SCALARS = { Money: 'string', Date: 'string', DateTime: 'string' } as const;

const config: CodegenConfig = {
  schema: 'schema/api.graphql',
  // Relative imports with their .js extension, as ESM under Node's module resolution needs them.
  emitLegacyCommonJSImports: false,
  documents: ['examples/client/operations/*.graphql'],
  generates: {
    'examples/client/generated/': {
      preset: 'client',
      config: { scalars: SCALARS, enumsAsTypes: true, useTypeImports: true },
    },
  },
};

export default config;
