import { runService } from '@mcpbus/runtime';
import { startRunner } from './start-runner.js';

// A runner-only process: `node --import tsx services/runner/src/main.ts --config FILE`.
process.exit(await runService('runner', process.argv.slice(2), process.env, ({ config, runtime, log }) => startRunner({ config, redisUrl: runtime.redisUrl, log })));
