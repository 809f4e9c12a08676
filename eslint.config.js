// ESLint for the hand-written browser JavaScript (`make lint-js`); versions pinned in
// package-lock.json. Recommended rules plus the style the code already follows.
import js from "@eslint/js";
import globals from "globals";

const style = {
  eqeqeq: "error",
  "no-var": "error",
  "prefer-const": "error",
  "object-shorthand": "error",
  "prefer-arrow-callback": "error",
};

export default [
  {
    // Only what `make lint-js` names is linted; this keeps an `eslint .` off generated trees.
    ignores: ["node_modules/", ".venv/", "data/", "build/"],
  },
  {
    files: ["dashboard/static/dashboard/*.js", "websites/static/websites/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: globals.browser,
    },
    rules: { ...js.configs.recommended.rules, ...style },
  },
  {
    // Node scripts the tests run (the OpenID provider of the single sign-on test).
    files: ["**/tests/*.mjs"],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: globals.node },
    rules: { ...js.configs.recommended.rules, ...style },
  },
  {
    // A classic script embedded in other people's sites: ES2019 syntax at most, and errors
    // are swallowed on purpose (empty catch blocks).
    files: ["tracking/static/tracking/pixel.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2019,
      sourceType: "script",
      globals: globals.browser,
    },
    rules: {
      ...js.configs.recommended.rules,
      ...style,
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
];
