import type { Client } from '@modelcontextprotocol/client';
import type { McpbusError } from '@mcpbus/protocol';
import { isSessionGone, upstreamFailure } from './errors.js';
import { namespaceToolResult } from './namespace-content.js';
import { scrubResult } from './scrub-result.js';
import type { ServerSessions, UpstreamProgress } from './server-sessions.js';

/**
 * What an upstream request on `client` threw, as the McpbusError to report. A session the
 * upstream has forgotten is dropped on the way, so the next caller gets a fresh one.
 */
export function requestFailure(sessions: ServerSessions, client: Client, err: unknown, context: { timeoutMs: number; aborted: boolean }): McpbusError {
  if (isSessionGone(err, client)) sessions.discard(client);
  return upstreamFailure(sessions.server.name, err, context);
}

export interface UpstreamToolCall {
  /** The tool's name on the upstream. */
  upstreamName: string;
  arguments: Record<string, unknown>;
  /** Unique per call; progress for it goes to `onProgress`. */
  progressToken?: string;
  onProgress?: (progress: UpstreamProgress) => void;
  signal: AbortSignal;
  timeoutMs: number;
  /** Leave resource URIs as the upstream wrote them (single-server routes show upstream names). */
  keepUpstreamUris?: boolean;
}

/**
 * One `tools/call` on a pooled session, the way workers (inline) and runners (jobs) both make
 * it: our own progress token read straight off the transport (the SDK's `onprogress` loses an
 * update that arrives together with the result), the upstream's identity scrubbed from the
 * result and its resource URIs namespaced. Never retries: a call may have side effects.
 */
export async function callUpstreamTool(sessions: ServerSessions, call: UpstreamToolCall): Promise<Record<string, unknown>> {
  const client = await sessions.acquire();
  const { progressToken: token, onProgress } = call;
  const untrack = token !== undefined && onProgress !== undefined ? sessions.trackProgress(token, onProgress) : undefined;
  const params: Record<string, unknown> = { name: call.upstreamName, arguments: call.arguments };
  if (untrack !== undefined) params['_meta'] = { progressToken: token };
  try {
    const result = scrubResult(await client.request({ method: 'tools/call', params }, { signal: call.signal, timeout: call.timeoutMs }));
    return call.keepUpstreamUris === true ? result : namespaceToolResult(sessions.server.name, result);
  } catch (err: unknown) {
    throw requestFailure(sessions, client, err, { timeoutMs: call.timeoutMs, aborted: call.signal.aborted });
  } finally {
    untrack?.();
  }
}
