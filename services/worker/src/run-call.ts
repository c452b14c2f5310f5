import type { ArgumentValidator } from '@mcpbus/catalog';
import { allowsTool, type Principal } from '@mcpbus/access';
import { ErrorCode, INVALID_ARGUMENTS_META_KEY, MAX_JSON_DEPTH, McpbusError, nestsDeeperThan, type CallToolRequest, type CatalogTool, type ProgressEvent, type TaskInfo } from '@mcpbus/protocol';
import { observeUpstreamCall } from '@mcpbus/logging';
import { callUpstreamTool, type CallLimiter, type CredentialPools, type ServerSessions } from '@mcpbus/upstream';
import type { CatalogCache } from './catalog-cache.js';
import { runsAsJob, type JobSubmitter } from './submit-job.js';

/** Time kept back from the caller's deadline so a timeout is answered before the caller gives up. */
const REPLY_MARGIN_MS = 50;

export interface RunCallDeps {
  catalog: CatalogCache;
  validator: ArgumentValidator;
  publishProgress(event: ProgressEvent): void;
  /** Absent when this worker has no job queue. */
  submitJob?: JobSubmitter;
  /** Sessions per caller credentials (absent: calls with client credentials are refused). */
  credentials?: CredentialPools;
  /** Per-upstream bounds on running and waiting calls. */
  limiter?: CallLimiter;
  /** Told which catalog tool the call names, once it is found (metrics label calls by it). */
  onResolved?: (entry: CatalogTool) => void;
}

/** A finished call (`result`, after `events` progress events), or one that became a job (`task`). */
export type CallOutcome = { result: Record<string, unknown>; events: number } | { task: TaskInfo };

/** A tool execution error (`isError: true`), the shape MCP uses for bad arguments since 2025-11-25. */
function toolError(text: string): Record<string, unknown> {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * Runs one `tools/call` for `principal`: resolve the exposed name and validate the arguments, then either call
 * the upstream on a pooled session (forwarding its progress) or, for a call the client asked to
 * run as a task or the config runs as a job, hand it to the job queue. A bad call never becomes
 * a job. Never retries: a call may have side effects.
 */
export async function runCall(req: CallToolRequest, principal: Pick<Principal, 'owner' | 'access'>, sessions: ServerSessions, signal: AbortSignal, deps: RunCallDeps): Promise<CallOutcome> {
  const { owner, access } = principal;
  const server = sessions.server;
  const remaining = (): number => req.deadlineAt - Date.now() - REPLY_MARGIN_MS;
  if (remaining() <= 0) throw new McpbusError(ErrorCode.Timeout, `call of ${req.name} reached its deadline before it started`);

  const entry = await deps.catalog.find(sessions, req.name, Math.min(remaining(), server.timeoutMs), req.byUpstreamName === true);
  // A key limited to some of this server's tools is told the same for a tool it may not use as
  // for one that does not exist.
  if (access.tools.has(server.name) && (entry === undefined || !allowsTool(access, server.name, entry.upstreamName)))
    throw new McpbusError(ErrorCode.NotPermitted, `Tool ${req.name} is not permitted for this key`);
  if (entry === undefined) throw new McpbusError(ErrorCode.UnknownTool, `Unknown tool: ${req.name}`, { data: { server: server.name } });
  deps.onResolved?.(entry);

  const args = req.arguments ?? {};
  // Bus callers skip the ingress's body checks: arguments that could overflow a recursive schema are refused here too.
  if (nestsDeeperThan(args)) throw new McpbusError(ErrorCode.InvalidParams, `the arguments of ${req.name} nest deeper than ${MAX_JSON_DEPTH} levels`);
  const check = deps.validator.check(entry.tool.inputSchema, args);
  // An input schema the gateway refused to apply (over its limits): no call of the tool can be
  // checked, so none goes through. A tool error, not invalid arguments: the upstream must fix it.
  if (!check.ok && check.schemaRefused === true)
    return { result: toolError(`Tool ${req.name} cannot be called: ${check.problems.join('; ')} (the schema is published by upstream server "${server.name}")`), events: 0 };
  if (!check.ok) {
    const result = toolError(`Invalid arguments for tool ${req.name}:\n${check.problems.map((p) => `- ${p}`).join('\n')}`);
    // Marks the error as the gateway's own, so REST callers can get a 400 instead of a result.
    result['_meta'] = { [INVALID_ARGUMENTS_META_KEY]: check.problems };
    return { result, events: 0 };
  }

  if ((req.task !== undefined && req.task.onlyIfJob !== true) || runsAsJob(server, entry)) {
    if (deps.submitJob === undefined) throw new McpbusError(ErrorCode.QueueUnavailable, 'This worker has no job queue, so the call cannot run as a job');
    return { task: await deps.submitJob(req, owner, server, entry, args) };
  }

  // A caller's own credentials get sessions of their own; the catalog above is the server's.
  let callSessions = sessions;
  let release = (): void => undefined;
  if (req.upstreamHeaders !== undefined) {
    if (deps.credentials === undefined) throw new McpbusError(ErrorCode.InvalidParams, 'client credentials are not accepted here');
    ({ sessions: callSessions, release } = deps.credentials.use(sessions, req.upstreamHeaders));
  }
  let seq = 0;
  const call = (): Promise<Record<string, unknown>> => observeUpstreamCall('worker', server.name, entry.upstreamName, () => callUpstreamTool(callSessions, {
    upstreamName: entry.upstreamName,
    arguments: args,
    signal,
    // Measured when the call starts: time spent waiting for a slot counts against the deadline.
    timeoutMs: Math.max(1, Math.min(server.timeoutMs, remaining())),
    keepUpstreamUris: req.byUpstreamName === true,
    ...(req.progress
      ? {
          progressToken: `mcpbus-${req.callId}`,
          onProgress: (p) => {
            seq += 1;
            deps.publishProgress({ v: 1, type: 'progress', callId: req.callId, seq, ...p });
          },
        }
      : {}),
  }));
  // Only failures that say something about the server count toward its circuit breaker: not a
  // caller's own credentials being refused, nor a caller's deadline shorter than the server's.
  // (The ingress sets the server's own timeout as the deadline; a second covers transit and margins.)
  const ownFailure = req.upstreamHeaders === undefined && remaining() + 1_000 >= server.timeoutMs;
  const limits = { maxConcurrent: server.maxConcurrentCalls, maxQueued: server.maxQueuedCalls, breakAfter: ownFailure ? server.circuitBreakerFailures : 0 };
  const wait = { signal, waitMs: remaining(), timeoutMessage: `call of ${req.name} waited for a free slot of upstream server "${server.name}" until its deadline` };
  try {
    const result = await (deps.limiter === undefined ? call() : deps.limiter.run(server.name, limits, wait, call));
    return { result, events: seq };
  } catch (failure: unknown) {
    // Cancelled by the caller or by a shutdown: say which.
    throw signal.aborted && signal.reason instanceof McpbusError ? signal.reason : failure;
  } finally {
    release();
  }
}
