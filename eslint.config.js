// ESLint: typed rules for the action's sources and tests; `npm run lint` allows no warnings.
// src/ is folders by layer (docs/architecture.md); import-x keeps every import pointing down and refuses cycles.
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** src/'s layers, top first: a file may import its own layer and the ones below it, never one above. */
const LAYERS = ['steps', 'report', 'preview', 'deploy', 'helm', 'render', 'image', 'desired', 'cluster', 'lib'];

/** For each layer, the layers above it (and the root's files: entry, composition root, post step). */
const upwardZones = LAYERS.map((layer, i) => ({
  target: `./src/${layer}`,
  from: ['./src/*.ts', ...LAYERS.slice(0, i).map((above) => `./src/${above}/**`)],
  message: `a file in src/${layer} imports only from its own layer and those under it (${LAYERS.slice(i + 1).join(', ') || 'none'}).`,
}));

export default tseslint.config(
  { ignores: ['dist/**', 'lib/**', 'node_modules/**', '.stack*/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts', '__tests__/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      'no-control-regex': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: upwardZones }],
    },
  },
);
