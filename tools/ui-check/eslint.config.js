// ESLint's rules for the web UI (gateway/ui): run by scripts/ui-check from
// the repository's root, `eslint -c tools/ui-check/eslint.config.js gateway/ui`.
import js from '@eslint/js';
import globals from 'globals';

/** Ways of turning a string into markup or code: the UI never uses them (README, Rules). */
const HTML_SINKS = ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'createContextualFragment', 'write', 'writeln'].map(
  (property) => ({ property, message: 'User content is text: build elements with h() (js/dom.js).' }),
);

export default [
  js.configs.recommended,
  {
    files: ['gateway/ui/**/*.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.browser,
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      // A function, with the functions inside it, reads on one screen or two.
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
      complexity: ['error', 20],
      'max-depth': ['error', 4],
      'max-params': ['error', 5],
      eqeqeq: ['error', 'always'],
      'no-var': 'error',
      'prefer-const': 'error',
      'no-shadow': 'error',
      'no-param-reassign': 'error',
      'no-implicit-coercion': 'error',
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
      'no-alert': 'error',
      'no-console': ['error', { allow: ['warn', 'error'] }],
      'no-unused-vars': ['error', { args: 'after-used', argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-restricted-properties': ['error', ...HTML_SINKS],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.property.name='setAttribute'][arguments.0.value=/^on/]", message: 'No inline handlers (CSP): use addEventListener.' },
      ],
    },
  },
  {
    // The service worker: a classic script in the worker's global scope.
    files: ['gateway/ui/sw.js'],
    languageOptions: {
      sourceType: 'script',
      globals: globals.serviceworker,
    },
  },
];
