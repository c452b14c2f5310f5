import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts'],
          // Some package tests (the task store) talk to the real Redis.
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Runs after the unit project, with its own worker limit.
          sequence: { groupOrder: 1 },
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file boots its own gateway and upstream processes; two cores do not want more.
          maxWorkers: 2,
        },
      },
    ],
  },
});
