export { startWorker, type StartWorkerOptions, type WorkerHandle } from './start-worker.js';
