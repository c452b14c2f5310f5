import { connectBus } from '@mcpbus/bus';
import { startTracing } from '@mcpbus/logging';
import { runService } from '@mcpbus/runtime';
import { startWorker } from './start-worker.js';

// A worker-only process: `node --import tsx services/worker/src/main.ts --config FILE`.
process.exit(
  await runService('worker', process.argv.slice(2), process.env, async ({ config, runtime, log }) => {
    const tracing = await startTracing({ env: process.env, serviceName: 'mcpbus-worker' });
    const nc = await connectBus({ url: runtime.natsUrl, name: `mcpbus-worker-${process.pid}` });
    const worker = await startWorker({ config, nc, log, redisUrl: runtime.redisUrl });
    return { close: () => worker.close().finally(() => nc.drain()).finally(() => tracing.close()) };
  }),
);
