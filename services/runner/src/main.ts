import { connectBus } from '@mcpbus/bus';
import { startTracing } from '@mcpbus/logging';
import { runService } from '@mcpbus/runtime';
import { startRunner } from './start-runner.js';

// A runner-only process: `node --import tsx services/runner/src/main.ts --config FILE`.
process.exit(
  await runService('runner', process.argv.slice(2), process.env, async ({ config, runtime, log }) => {
    const tracing = await startTracing({ env: process.env, serviceName: 'mcpbus-runner' });
    const nc = await connectBus({ url: runtime.natsUrl, name: `mcpbus-runner-${process.pid}` });
    const runner = await startRunner({ config, nc, redisUrl: runtime.redisUrl, log });
    return { close: () => runner.close().finally(() => nc.drain()).finally(() => tracing.close()) };
  }),
);
