/**
 * Redis key names of one mcpbus deployment. Everything lives under `mcpbus:<subject root>:` so
 * deployments (and test runs) sharing a Redis never see each other's jobs or tasks.
 */
export interface JobKeys {
  /** BullMQ `prefix` option: the queue's keys are `<prefix>:<queue>:…`. */
  readonly bullPrefix: string;
  task(taskId: string): string;
  /** Sorted set of an owner's task ids, scored by creation time. */
  ownerTasks(owner: string): string;
}

/** The BullMQ queue long-running calls go through. */
export const CALL_QUEUE = 'calls';

export function jobKeys(subjectRoot: string): JobKeys {
  const base = `mcpbus:${subjectRoot}`;
  return Object.freeze({
    bullPrefix: `${base}:bull`,
    task: (taskId: string) => `${base}:task:${taskId}`,
    ownerTasks: (owner: string) => `${base}:tasks:${owner}`,
  });
}
