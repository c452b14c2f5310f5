import { defineConfig } from 'vitest/config';

// `pnpm test:topology` runs the e2e project against real processes (2 ingresses, 2 workers, a
// runner per gateway): one file at a time, since each file's topology is five or more Node
// processes on two cores, and a test that fails once is run again (the load makes a few timing
// bounds of the in-process suite tight; a second failure fails the run).
const topology = process.env['MCPBUS_E2E_TOPOLOGY'] === '1';

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
          // The topology-* files start a topology of their own in either mode: once is enough.
          exclude: topology ? ['test/e2e/topology-*.test.ts'] : [],
          // Runs after the unit project, with its own worker limit.
          sequence: { groupOrder: 1 },
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file boots its own gateway and upstream processes; two cores do not want more.
          maxWorkers: topology ? 1 : 2,
          retry: topology ? 1 : 0,
        },
      },
    ],
  },
});
