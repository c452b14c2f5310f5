import type { Job } from 'bullmq';
import type { CallJob } from '@mcpbus/jobs';
import { SpanKind, contextOf, inSpan, runnerJobWait, runnerJobs } from '@mcpbus/logging';
import type { TaskOutcome } from '@mcpbus/protocol';

/**
 * Runs one job attempt in a CONSUMER span that continues the trace the job's data carries (the
 * worker's enqueue span), so a job call is one trace from the ingress to the upstream. The
 * first attempt also records how long the job waited in the queue.
 */
export function traceJob<T>(job: Job<CallJob>, work: () => Promise<T>): Promise<T> {
  const data = job.data;
  if (job.attemptsMade === 0) runnerJobWait.observe({ server: data.server }, Math.max(0, Date.now() - job.timestamp) / 1000);
  return inSpan(`job tools/call ${data.tool}`, () => ({
    kind: SpanKind.CONSUMER,
    parent: contextOf(data.trace),
    attributes: { 'messaging.system': 'bullmq', 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': data.upstreamName, 'mcpbus.server': data.server, 'mcpbus.call_id': data.callId, 'mcpbus.attempt': job.attemptsMade + 1 },
  }), work);
}

/** Counts a job's end (once per job, as it is audited): ok, tool_error, or the error's code. */
export function countJob(job: CallJob, outcome: TaskOutcome): void {
  const label = outcome.ok ? (outcome.result['isError'] === true ? 'tool_error' : 'ok') : outcome.error.code;
  runnerJobs.inc({ server: job.server, tool: job.upstreamName, outcome: label });
}

