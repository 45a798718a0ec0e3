import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/', '**/node_modules/', '.risk-hub/', 'deploy/', 'coverage/', '.ci/.venv/', '.ci/node24/', '**/.venv/', '.scratch/', '**/*.tmp.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // the packaging test's applications: plain Node.js scripts, as a user writes them
    files: ['test/packaging/apps/**'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', fetch: 'readonly', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
);
