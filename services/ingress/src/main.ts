import { connectBus } from '@mcpbus/bus';
import { startTracing } from '@mcpbus/logging';
import { runService } from '@mcpbus/runtime';
import { startIngress } from './start-ingress.js';

// An ingress-only process: `node --import tsx services/ingress/src/main.ts --config FILE --port 4000`.
process.exit(
  await runService('ingress', process.argv.slice(2), process.env, async ({ config, runtime, log, port, host }) => {
    const tracing = await startTracing({ env: process.env, serviceName: 'mcpbus-ingress' });
    const nc = await connectBus({ url: runtime.natsUrl, name: `mcpbus-ingress-${process.pid}` });
    const ingress = await startIngress({ config, nc, log, port, host });
    return { close: () => ingress.close().finally(() => nc.drain()).finally(() => tracing.close()) };
  }),
);
