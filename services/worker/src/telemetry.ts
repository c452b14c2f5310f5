import { traceContextOf, type JsMsg, type Msg } from '@mcpbus/bus';
import { SpanKind, inSpan, workerCalls } from '@mcpbus/logging';
import { ErrorCode, INVALID_ARGUMENTS_META_KEY, McpbusError } from '@mcpbus/protocol';
import type { CallOutcome } from './run-call.js';

/** The tool label of a call whose name the catalog did not resolve: client text is no label. */
export const UNRESOLVED = '_unresolved';

/**
 * Serves one bus request inside a SERVER span that continues the trace its NATS headers carry
 * (`traceparent`), so a call is one trace from the ingress (or any bus client) on.
 */
export function traceRequest(kind: string, msg: Msg, work: () => Promise<void>): Promise<void> {
  return inSpan(kind, () => ({ kind: SpanKind.SERVER, parent: traceContextOf(msg), attributes: { 'mcp.method.name': kind, 'messaging.system': 'nats', 'messaging.destination.name': msg.subject } }), () => work());
}

/** A durable submission, in a CONSUMER span continuing the trace its JetStream headers carry. */
export function traceSubmission<T>(msg: JsMsg, work: () => Promise<T>): Promise<T> {
  return inSpan('submit tools/call', () => ({ kind: SpanKind.CONSUMER, parent: traceContextOf(msg), attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject } }), () => work());
}

/** Counts one answered call: ok, tool_error, invalid_arguments, queued, or (`failure`) the error's code. */
export function countCall(server: string, tool: string, ended: { outcome: CallOutcome } | { failure: unknown }): void {
  let label: string;
  if ('failure' in ended) label = ended.failure instanceof McpbusError ? ended.failure.code : ErrorCode.Internal;
  else if ('task' in ended.outcome) label = 'queued';
  else if ('inputRequired' in ended.outcome) label = 'input_required';
  else {
    const { result } = ended.outcome;
    const meta = result['_meta'] as Record<string, unknown> | undefined;
    label = meta?.[INVALID_ARGUMENTS_META_KEY] !== undefined ? 'invalid_arguments' : result['isError'] === true ? 'tool_error' : 'ok';
  }
  workerCalls.inc({ server, tool, outcome: label });
}

