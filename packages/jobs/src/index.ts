export { CALL_QUEUE, jobKeys, type JobKeys } from './keys.js';
export { createTaskStore, type NewTask, type TaskRecord, type TaskStart, type TaskStore } from './task-store.js';
export { createCallQueue, enqueueCall, type CallJob, type CallQueue, type EnqueueOptions } from './call-queue.js';
export { connectRedis, type RedisRole } from './connect-redis.js';
export { createKeyLimits, type KeyLimits, type KeyLimitSettings } from './key-limits.js';
