import { traceContextOf, type JsMsg, type Msg } from '@mcpbus/bus';
import { JOB_STATES, SpanKind, inSpan, registerInFlight, registerQueueSource, registerUpstreamSource, workerCalls } from '@mcpbus/logging';
import { ErrorCode, INVALID_ARGUMENTS_META_KEY, McpbusError } from '@mcpbus/protocol';
import { upstreamStates, type CallLimiter, type ServerPools } from '@mcpbus/upstream';
import type { CallQueue } from '@mcpbus/jobs';
import type { CallOutcome } from './run-call.js';

/** The tool label of a call whose name the catalog did not resolve: client text is no label. */
export const UNRESOLVED = '_unresolved';

/**
 * Serves one bus request inside a SERVER span that continues the trace its NATS headers carry
 * (`traceparent`), so a call is one trace from the ingress (or any bus client) on.
 */
export function traceRequest(kind: string, msg: Msg, work: () => Promise<void>): Promise<void> {
  return inSpan(kind, { kind: SpanKind.SERVER, parent: traceContextOf(msg), attributes: { 'mcp.method.name': kind, 'messaging.system': 'nats', 'messaging.destination.name': msg.subject } }, () => work());
}

/** A durable submission, in a CONSUMER span continuing the trace its JetStream headers carry. */
export function traceSubmission<T>(msg: JsMsg, work: () => Promise<T>): Promise<T> {
  return inSpan('submit tools/call', { kind: SpanKind.CONSUMER, parent: traceContextOf(msg), attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject } }, () => work());
}

/** Counts one answered call: ok, tool_error, invalid_arguments, queued, or (`failure`) the error's code. */
export function countCall(server: string, tool: string, ended: { outcome: CallOutcome } | { failure: unknown }): void {
  let label: string;
  if ('failure' in ended) label = ended.failure instanceof McpbusError ? ended.failure.code : ErrorCode.Internal;
  else if ('task' in ended.outcome) label = 'queued';
  else {
    const { result } = ended.outcome;
    const meta = result['_meta'] as Record<string, unknown> | undefined;
    label = meta?.[INVALID_ARGUMENTS_META_KEY] !== undefined ? 'invalid_arguments' : result['isError'] === true ? 'tool_error' : 'ok';
  }
  workerCalls.inc({ server, tool, outcome: label });
}

export interface WorkerGauges {
  sessions: ServerPools;
  limiter: CallLimiter;
  running: ReadonlyMap<string, unknown>;
  queue: CallQueue;
  /** The queue's Redis prefix: roles of one process sharing a queue count it once. */
  queueKey: string;
  /** Whether Redis answers: a scrape does not queue commands on a connection that is down. */
  queueReady(): boolean;
}

/** What a worker shows at scrape time: its upstream pools and lanes, running calls, the job queue. */
export function registerWorkerGauges(gauges: WorkerGauges): () => void {
  const removers = [
    registerUpstreamSource({ role: 'worker', sample: () => upstreamStates(gauges.sessions, gauges.limiter) }),
    registerInFlight('worker', () => gauges.running.size),
    registerQueueSource(gauges.queueKey, () => (gauges.queueReady() ? gauges.queue.getJobCounts(...JOB_STATES) : Promise.reject(new Error('Redis is not connected')))),
  ];
  return () => {
    for (const remove of removers) remove();
  };
}
