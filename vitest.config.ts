import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure, milliseconds, no network) and `integration` (the real Kafka broker and
// schema registry, started once per run by the global setup, or taken from KAFKA_BROKERS /
// SCHEMA_REGISTRY_URL). Integration files run one at a time: they share one broker on 2 cores.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
