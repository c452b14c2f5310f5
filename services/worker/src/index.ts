export { startWorker, type StartWorkerOptions, type WorkerHandle } from './start-worker.js';
export type { LocalToolContext } from '@mcpbus/upstream';
