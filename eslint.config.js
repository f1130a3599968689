// Lint: typescript-eslint's recommended rules over every workspace, tests and benches, and the
// architecture's fences (test/architecture-fences.test.ts proves each one fails on a fixture):
// - only libs/engine/src/ort-session.ts imports onnxruntime-node;
// - the coordinator never imports the engine (its pure parts only, through @tessera/engine/pure);
// - the coordinator's core (services/coordinator/src/core/) imports no I/O: no node:*, NATS, gRPC,
//   sharp, pino, no package that loads them (values of @tessera/protocol, @tessera/hardware,
//   @tessera/runtime), nothing from the shell.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ORT = {
  name: 'onnxruntime-node',
  message: 'only libs/engine/src/ort-session.ts imports onnxruntime-node (one adapter for every session)',
};
const ENGINE = {
  name: '@tessera/engine',
  message: 'the coordinator never imports the engine; its pure parts come from @tessera/engine/pure',
};
const ENGINE_DEEP = {
  group: ['@tessera/engine/*', '!@tessera/engine/pure', '**/libs/engine/**'],
  message: 'the coordinator never imports the engine; its pure parts come from @tessera/engine/pure',
};
const IO = 'the farm core imports no I/O: the shell (services/coordinator/src/shell/) performs its effects';
const CORE_IO = [
  { group: ['node:*'], message: IO },
  { group: ['@nats-io/*', '@grpc/*', 'sharp', 'pino', 'prom-client'], message: IO },
  { group: ['@tessera/runtime', '@tessera/hardware', '@tessera/engine', '@tessera/engine/*'], message: IO },
  {
    group: ['../shell/*', '../kinds/*', '../state/*', '../main*', '../blobs*', '../codec*', '../grpc-server*'],
    message: IO,
  },
  { group: ['../nats-handlers*', '../events*', '../leader*', '../options*', '../metrics*'], message: IO },
  // Its generated service stubs load @grpc/grpc-js: types only.
  { group: ['@tessera/protocol'], allowTypeImports: true, message: IO },
];
const fence = (paths, patterns = []) => [
  'error',
  { paths, patterns: patterns.map((p) => ({ ...p, allowTypeImports: p.allowTypeImports ?? false })) },
];

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'libs/protocol/src/gen/**',
      'out/**',
      'coverage/**',
      '.dev-gpu/**',
      '.gl/**',
      // Lint fixtures that break the fences on purpose (linted by test/architecture-fences.test.ts).
      'test/fixtures/fences/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        performance: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.ts'],
    ignores: ['libs/engine/src/ort-session.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': fence([ORT]) },
  },
  {
    files: ['services/coordinator/**/*.ts', 'test/fixtures/fences/coordinator/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': fence([ORT, ENGINE], [ENGINE_DEEP]) },
  },
  {
    files: ['services/coordinator/src/core/**/*.ts', 'test/fixtures/fences/core/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': fence([ORT, ENGINE], [ENGINE_DEEP, ...CORE_IO]) },
  },
);
