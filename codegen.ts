import type { CodegenConfig } from '@graphql-codegen/cli';

const scalars = {
  useTypeImports: true,
  enumsAsTypes: true,
  scalars: { DateTime: 'string', ID: 'string', File: 'File', HttpHeaders: 'Record<string, string>' },
  strictScalars: true,
};

// Typed documents for clients and for the tests: every operation under
// client/operations becomes a TypedDocumentNode in client/generated; the web
// chat's own operations (web/src/*.graphql) go to web/src/generated.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  generates: {
    'client/generated/': {
      documents: ['client/operations/**/*.graphql'],
      preset: 'client',
      // persistedDocuments: also client/generated/persisted-documents.json, each
      // document by its sha256 hash, which the server serves by hash
      // (src/server/persisted.ts); each document carries its hash in __meta__.hash.
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: 'sha256' } },
      config: scalars,
    },
    'web/src/generated/': {
      documents: ['web/src/**/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: scalars,
    },
  },
  ignoreNoDocuments: false,
  // ESM: relative imports in the output carry their .js extension.
  emitLegacyCommonJSImports: false,
};

export default config;
