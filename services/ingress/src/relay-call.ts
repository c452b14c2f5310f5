import { ProtocolError } from '@modelcontextprotocol/server';
import { allowsServer } from '@mcpbus/access';
import { executionOf, type McpbusConfig, type ServerConfig } from '@mcpbus/config';
import { ErrorCode, IDEMPOTENCY_KEY_META_KEY, McpbusError, jsonRpcCodeOf, messageOf, newCallId, serverOfToolName, type InputRequired } from '@mcpbus/protocol';
import { silentLogger } from '@mcpbus/logging';
import type { Logger } from 'pino';
import type { BusCalls, CallOptions, CallResult } from './bus-calls.js';
import type { ProgressSink } from './call-watch.js';
import type { Caller } from './caller.js';
import type { RequestCancels } from './request-cancels.js';
import { UNRESOLVED, observeCall, type CallLabels } from './telemetry.js';
import { createUpstreamCredentials } from './upstream-credentials.js';

/**
 * What of an error's data a client sees: the upstream's own error data (with the server named),
 * or just the server, and for `-32021` the capabilities the client must declare (MCP's shape).
 */
function clientDataOf(data: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const server = data?.['server'];
  const upstream = data?.['upstreamData'];
  if (typeof upstream === 'object' && upstream !== null && !Array.isArray(upstream)) return { server, ...(upstream as Record<string, unknown>) };
  const required = data?.['requiredCapabilities'];
  if (required !== undefined) return { ...(server === undefined ? {} : { server }), requiredCapabilities: required };
  return server === undefined ? undefined : { server };
}

/** Turns gateway errors into JSON-RPC errors sent as they are (code and message). */
export function toProtocolError(err: unknown, log: Logger): ProtocolError {
  if (err instanceof ProtocolError) return err;
  if (err instanceof McpbusError) {
    // A request its client cancelled gets no answer that matters.
    if (err.code === ErrorCode.Cancelled && err.data?.['byClient'] === true) return new ProtocolError(-32800, 'Request cancelled');
    return new ProtocolError(jsonRpcCodeOf(err), err.message, clientDataOf(err.data));
  }
  log.error({ err: messageOf(err) }, 'unexpected ingress error');
  return new ProtocolError(-32603, 'Internal error');
}

/** The `error` member of a JSON-RPC response the ingress writes itself (outside the SDK), for any failure. */
export function rpcErrorBodyOf(err: unknown, log: Logger): { code: number; message: string; data?: unknown } {
  const error = toProtocolError(err, log);
  return error.data === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, data: error.data };
}

export interface RelayCallRequest {
  name: string;
  arguments: Record<string, unknown> | undefined;
  caller: Caller;
  signal: AbortSignal;
  onProgress?: ProgressSink;
  /** The client's own progress token (kept with a task for later watchers). */
  progressToken?: string | number;
  /** The request's `_meta`, which may carry an idempotency key. */
  meta?: Record<string, unknown> | undefined;
  /** The JSON-RPC id, by which a stateless client's `notifications/cancelled` names the call. */
  requestId?: string | number;
  /** The client can answer the upstream's requests for input (see CallOptions). */
  interaction?: CallOptions['interaction'];
  onInput?: CallOptions['onInput'];
  onLog?: CallOptions['onLog'];
  onPause?: CallOptions['onPause'];
  /** A 2026 client's retry of an `input_required` round. */
  inputResponses?: Record<string, unknown>;
  requestState?: string;
}

/** The MCP result asking a 2026 client for input: it answers and calls again with the requestState. */
export function inputRequiredResult(outcome: { inputRequired: InputRequired }): Record<string, unknown> {
  return { resultType: 'input_required', inputRequests: outcome.inputRequired.inputRequests, requestState: outcome.inputRequired.requestState };
}

/** The servers that exist right now, by name. */
export interface ServerLookup {
  get(name: string): ServerConfig | undefined;
  names(): ReadonlySet<string>;
}

/** Calls tools on behalf of a client; every method rejects with a McpbusError. */
export interface CallRelay {
  /** The call's result, whether it ran inline or as a job. */
  call: (request: RelayCallRequest) => Promise<Record<string, unknown>>;
  /** The call as a task (see CallOptions.task), or its result when it did not become one. */
  callOrTask: (request: RelayCallRequest, task: { ttlMs?: number; onlyIfJob?: boolean }) => Promise<CallResult>;
}

function idempotencyKeyOf(request: RelayCallRequest): string | undefined {
  const fromMeta = request.meta?.[IDEMPOTENCY_KEY_META_KEY];
  if (typeof fromMeta === 'string' && fromMeta !== '') return fromMeta.slice(0, 256);
  return request.caller.idempotencyKey?.slice(0, 256);
}

/**
 * The one implementation of `tools/call` at the ingress, whichever way the request came in (MCP,
 * the JSON fast path, REST): find the server (from the name's prefix, or the scope's single
 * server), refuse names outside the scope without a bus round trip, and call it over the bus.
 */
export function createCallRelay(config: McpbusConfig, servers: ServerLookup, bus: BusCalls, cancels?: RequestCancels, log: Logger = silentLogger()): CallRelay {
  const credentials = createUpstreamCredentials(servers);
  const separator = config.settings.toolSeparator;
  const optionsOf = (request: RelayCallRequest, callId: string, labels: CallLabels): CallOptions => {
    const { scope, access } = request.caller;
    const serverName = scope.single ?? serverOfToolName(request.name, config.settings.toolSeparator);
    const inScope = serverName !== undefined && (scope.servers === undefined || scope.servers.includes(serverName));
    const target = inScope && allowsServer(access, serverName) ? servers.get(serverName) : undefined;
    // A restricted key hears the same answer for a server it may not use as for one that does not exist.
    if (target === undefined && access.servers !== undefined) throw new McpbusError(ErrorCode.NotPermitted, `Tool ${request.name} is not permitted for this key`);
    if (target === undefined) throw new McpbusError(ErrorCode.UnknownTool, `Unknown tool: ${request.name}`);
    labels.server = target.name;
    labels.tool = scope.single !== undefined || !request.name.startsWith(target.name + separator) ? request.name : request.name.slice(target.name.length + separator.length);
    const idempotencyKey = idempotencyKeyOf(request);
    const upstreamHeaders = request.caller.clientHeaders === undefined ? undefined : credentials(target, request.caller.clientHeaders, request.caller.key);
    return {
      callId,
      server: target.name,
      name: request.name,
      byUpstreamName: scope.single !== undefined,
      arguments: request.arguments,
      timeoutMs: target.timeoutMs,
      who: request.caller,
      signal: request.signal,
      abortCancelsJob: request.caller.abortCancelsJob,
      // Each attempt may take the whole job timeout; retries wait in between.
      jobWaitMs: Math.min(2_147_483_647, target.jobTimeoutMs * config.settings.jobMaxAttempts + 60_000),
      ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
      ...(request.progressToken === undefined ? {} : { progressToken: request.progressToken }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      ...(upstreamHeaders === undefined ? {} : { upstreamHeaders }),
      ...onQueued(request),
      ...(request.interaction === undefined ? {} : { interaction: request.interaction }),
      ...(request.onInput === undefined ? {} : { onInput: request.onInput }),
      ...(request.onLog === undefined ? {} : { onLog: request.onLog }),
      ...(request.onPause === undefined ? {} : { onPause: request.onPause }),
      ...(request.inputResponses === undefined ? {} : { inputResponses: request.inputResponses }),
      ...(request.requestState === undefined ? {} : { requestState: request.requestState }),
      ...(executionOf(target, labels.tool) === 'job' ? { queueTimeoutMs: config.settings.jobQueueTimeoutMs } : {}),
    };
  };
  // Where a dropped connection does not cancel a job, the client's notifications/cancelled must.
  const onQueued = (request: RelayCallRequest): Pick<CallOptions, 'onQueued'> => {
    const { requestId } = request;
    if (cancels === undefined || requestId === undefined || request.caller.abortCancelsJob) return {};
    return { onQueued: (taskId) => cancels.track(request.caller, request.caller.sessionId, requestId, taskId) };
  };
  const invoke = (request: RelayCallRequest, task?: CallOptions['task']): Promise<CallResult> => {
    const callId = newCallId();
    const labels: CallLabels = { server: UNRESOLVED, tool: UNRESOLVED };
    return observeCall(callId, request.name, labels, log, async () => {
      try {
        const options = optionsOf(request, callId, labels);
        if (task === undefined) return await bus.callTool(options);
        // A task the client insists on is a job whatever the config says.
        return await bus.callTool(task.onlyIfJob === true ? { ...options, task } : { ...options, task, queueTimeoutMs: config.settings.jobQueueTimeoutMs });
      } catch (err: unknown) {
        if (err instanceof McpbusError && err.code === ErrorCode.Cancelled && request.signal.aborted)
          throw new McpbusError(ErrorCode.Cancelled, 'the client cancelled the request', { data: { byClient: true } });
        throw err;
      }
    });
  };
  return {
    async call(request) {
      const outcome = await invoke(request);
      if ('task' in outcome) throw new McpbusError(ErrorCode.Internal, 'a call returned a task nobody asked for');
      return 'inputRequired' in outcome ? inputRequiredResult(outcome) : outcome.result;
    },
    callOrTask: invoke,
  };
}
