import { defineConfig } from 'tsup';

// ESM (dist/index.js + index.d.ts) and CommonJS (dist/index.cjs + index.d.cts) from the same sources,
// one bundle per format; dependencies stay external (the native engine must load from its own package).
// `shims` gives the CommonJS build an import.meta.url (waf.ts loads the native binding with createRequire).
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  shims: true,
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  outDir: 'dist',
  tsconfig: 'tsconfig.json',
});
