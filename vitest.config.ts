import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure, milliseconds, no network) and `integration` (the real Kafka broker and
// schema registry, started once per run by the global setup, or taken from KAFKA_BROKERS /
// SCHEMA_REGISTRY_URL; it also runs test/packaging, whose installed apps produce to the broker).
// Integration files run one at a time: they share one broker on 2 cores.
export default defineConfig({
  // The agent's package resolves to its sources here (as in tsconfig.json's paths, which tsx follows):
  // the tests run what the build compiles, without a build first.
  resolve: { alias: { '@risk-hub/agent': fileURLToPath(new URL('./packages/agent/src/index.ts', import.meta.url)) } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/packaging/**', 'node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          // packaging: the packed packages installed into fresh projects (they produce to the broker)
          include: ['test/integration/**/*.test.ts', 'test/packaging/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
