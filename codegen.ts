import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for clients and for the tests: every operation under
// client/operations becomes a TypedDocumentNode in client/generated.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['client/operations/**/*.graphql'],
  generates: {
    'client/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', ID: 'string' },
        strictScalars: true,
      },
    },
  },
  ignoreNoDocuments: false,
  // ESM: relative imports in the output carry their .js extension.
  emitLegacyCommonJSImports: false,
};

export default config;
