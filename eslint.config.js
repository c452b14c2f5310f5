import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.mcpbus/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-deprecated': 'off',
      // Packages expose one entry each; reaching into another package's files couples them.
      'no-restricted-imports': ['error', { patterns: [{ group: ['@mcpbus/*/*'], message: 'Import the package entry, not its files.' }] }],
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // vitest's asymmetric matchers (expect.stringContaining, …) are typed `any`.
    files: ['test/**/*.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // Services meet only through subjects; they never import each other.
    files: ['services/**/*.ts', 'packages/**/*.ts'],
    ignores: ['packages/cli/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['@mcpbus/*/*'], message: 'Import the package entry, not its files.' },
        { group: ['@mcpbus/ingress', '@mcpbus/worker', '@mcpbus/runner'], message: 'Services and packages never import services.' },
      ] }],
    },
  },
);
