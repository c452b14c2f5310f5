import type { ArgumentValidator } from '@mcpbus/catalog';
import { ErrorCode, INVALID_ARGUMENTS_META_KEY, McpbusError, type CallToolRequest, type ProgressEvent } from '@mcpbus/protocol';
import type { ServerSessions } from '@mcpbus/upstream';
import type { CatalogCache } from './catalog-cache.js';
import { namespaceToolResult } from './namespace-content.js';
import { scrubResult } from './scrub-result.js';
import { requestFailure } from './upstream-lists.js';

/** Time kept back from the caller's deadline so a timeout is answered before the caller gives up. */
const REPLY_MARGIN_MS = 50;

export interface RunCallDeps {
  catalog: CatalogCache;
  validator: ArgumentValidator;
  publishProgress(event: ProgressEvent): void;
}

export interface CallOutcome {
  result: Record<string, unknown>;
  events: number;
}

/** A tool execution error (`isError: true`), the shape MCP uses for bad arguments since 2025-11-25. */
function toolError(text: string): Record<string, unknown> {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * Runs one `tools/call`: resolve the exposed name, validate the arguments, call the upstream
 * on a pooled session, and forward its progress. Never retries: a call may have side effects.
 */
export async function runCall(req: CallToolRequest, sessions: ServerSessions, signal: AbortSignal, deps: RunCallDeps): Promise<CallOutcome> {
  const server = sessions.server;
  const remaining = (): number => req.deadlineAt - Date.now() - REPLY_MARGIN_MS;
  if (remaining() <= 0) throw new McpbusError(ErrorCode.Timeout, `call of ${req.name} reached its deadline before it started`);

  const entry = await deps.catalog.find(sessions, req.name, Math.min(remaining(), server.timeoutMs), req.byUpstreamName === true);
  if (entry === undefined) throw new McpbusError(ErrorCode.UnknownTool, `Unknown tool: ${req.name}`, { data: { server: server.name } });

  const args = req.arguments ?? {};
  const check = deps.validator.check(entry.tool.inputSchema, args);
  if (!check.ok) {
    const result = toolError(`Invalid arguments for tool ${req.name}:\n${check.problems.map((p) => `- ${p}`).join('\n')}`);
    // Marks the error as the gateway's own, so REST callers can get a 400 instead of a result.
    result['_meta'] = { [INVALID_ARGUMENTS_META_KEY]: check.problems };
    return { result, events: 0 };
  }

  const client = await sessions.acquire();
  const timeoutMs = Math.max(1, Math.min(server.timeoutMs, remaining()));
  let seq = 0;
  // Our own token (not the SDK's onprogress): the session routes progress off the transport
  // synchronously, so no update is lost to the result.
  const token = `mcpbus-${req.callId}`;
  const untrack = req.progress
    ? sessions.trackProgress(token, (p) => {
        seq += 1;
        deps.publishProgress({ v: 1, type: 'progress', callId: req.callId, seq, ...p });
      })
    : undefined;
  const params: Record<string, unknown> = { name: entry.upstreamName, arguments: args };
  if (req.progress) params['_meta'] = { progressToken: token };
  try {
    const result = await client.request({ method: 'tools/call', params }, { signal, timeout: timeoutMs });
    const scrubbed = scrubResult(result);
    return { result: req.byUpstreamName === true ? scrubbed : namespaceToolResult(server.name, scrubbed), events: seq };
  } catch (err: unknown) {
    const failure = requestFailure(sessions, client, err, { timeoutMs, aborted: signal.aborted });
    // Cancelled by the caller or by a shutdown: say which.
    throw signal.aborted && signal.reason instanceof McpbusError ? signal.reason : failure;
  } finally {
    untrack?.();
  }
}
