import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  SpanKind,
  busRequestDuration,
  contextOf,
  inSpan,
  ingressCallDuration,
  ingressCalls,
  ingressHttpDuration,
  metricsText,
  startSpan,
  traceIdOf,
  tracingEnabled,
  withContext,
} from '@mcpbus/logging';
import { ErrorCode, McpbusError, messageOf } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { adminRouteOf } from './admin/routes.js';
import { callRouteOf } from './calls-http.js';
import { LEGACY_MESSAGES_PATH } from './legacy-sse.js';
import { restRouteOf } from './rest.js';
import { serverInPath } from './scope.js';

/** The label of a server or tool the call never got as far as naming (unknown, refused): client text is no label. */
export const UNRESOLVED = '_unresolved';

/** Outcomes that say a worker found the tool, so the name the client sent is a catalog name. */
const RESOLVED_OUTCOMES: ReadonlySet<string> = new Set([
  'ok',
  'tool_error',
  'task',
  'input_required',
  ErrorCode.UpstreamError,
  ErrorCode.UpstreamUnavailable,
  ErrorCode.UpstreamTimeout,
  ErrorCode.Overloaded,
  ErrorCode.OutcomeUnknown,
  ErrorCode.PayloadTooLarge,
]);

/** Route classes: a bounded label, and the span name's second word. */
function routeOf(path: string): string {
  if (path === '/mcp') return 'mcp';
  if (path.startsWith('/health/')) return 'health';
  if (path === '/metrics') return 'metrics';
  if (restRouteOf(path) !== undefined) return 'rest';
  if (callRouteOf(path) !== undefined) return 'calls';
  if (adminRouteOf(path) !== undefined) return 'admin';
  if (path === '/sse' || path === LEGACY_MESSAGES_PATH) return 'sse';
  if (path === '/mcp' || path === '/mcp/' || serverInPath(path) !== undefined) return 'mcp';
  return 'other';
}

/**
 * Serves one HTTP request inside a SERVER span that continues the client's `traceparent`, and
 * records its duration by route class and status once the response closes. Health checks and
 * scrapes are measured but not traced.
 */
export function observeRequest(req: IncomingMessage, res: ServerResponse, path: string, serve: () => Promise<void>): Promise<void> {
  const started = performance.now();
  const route = routeOf(path);
  const traced = route !== 'health' && route !== 'metrics' && tracingEnabled();
  const method = req.method ?? 'GET';
  const request = traced
    ? startSpan(`${method} ${route}`, { kind: SpanKind.SERVER, parent: contextOf(req.headers), attributes: { 'http.request.method': method, 'http.route': route, 'url.path': path } })
    : undefined;
  res.once('close', () => {
    const status = res.headersSent ? res.statusCode : 0;
    ingressHttpDuration.observe({ route, status: status === 0 ? 'none' : String(status) }, (performance.now() - started) / 1000);
    if (request === undefined) return;
    request.span.setAttribute('http.response.status_code', status);
    request.span.end();
  });
  return request === undefined ? serve() : withContext(request.context, serve);
}

/** The labels a call is counted under; the relay fills in the server once it knows it. */
export interface CallLabels {
  server: string;
  /** The tool's name without the server prefix (a single-server route's name is that already). */
  tool: string;
}

/**
 * Runs one relayed `tools/call` in a CLIENT span (whose context the bus request carries to the
 * worker), counts it by server, tool and outcome, and logs its end at debug level under its call
 * id. A failure that is no McpbusError is logged here, with the call id, and becomes `internal`.
 */
export function observeCall<T extends { result: Record<string, unknown> } | { task: unknown } | { inputRequired: unknown }>(callId: string, name: string, labels: CallLabels, log: Logger, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  return inSpan(`tools/call ${name}`, () => ({ kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': name, 'mcpbus.call_id': callId } }), async (span) => {
    let outcome = 'ok';
    try {
      const done = await work();
      if ('task' in done) outcome = 'task';
      else if ('inputRequired' in done) outcome = 'input_required';
      else if (done.result['isError'] === true) outcome = 'tool_error';
      return done;
    } catch (err: unknown) {
      if (err instanceof McpbusError) {
        outcome = err.code;
        throw err;
      }
      outcome = ErrorCode.Internal;
      log.error({ callId, err: messageOf(err) }, 'call failed unexpectedly');
      throw new McpbusError(ErrorCode.Internal, 'Internal error', { cause: err });
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const resolved = RESOLVED_OUTCOMES.has(outcome);
      const server = resolved ? labels.server : UNRESOLVED;
      const tool = resolved ? labels.tool : UNRESOLVED;
      ingressCalls.inc({ server, tool, outcome });
      ingressCallDuration.observe({ server, tool, outcome: resolved ? outcome : 'error' }, seconds);
      span.setAttribute('mcpbus.outcome', outcome);
      if (labels.server !== UNRESOLVED) span.setAttribute('mcpbus.server', labels.server);
      if (log.isLevelEnabled('debug')) {
        const traceId = traceIdOf(span);
        log.debug({ callId, server: labels.server, tool: name, outcome, durationMs: Math.round(seconds * 1000), ...(traceId === undefined ? {} : { traceId }) }, 'tool call relayed');
      }
    }
  });
}

/** Times one bus round trip by operation (`tools/call`, `tools/list`, `tasks/get`, …) and outcome. */
export async function observeBus<T>(op: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let outcome = 'ok';
  try {
    return await work();
  } catch (err: unknown) {
    outcome = err instanceof McpbusError ? err.code : ErrorCode.Internal;
    throw err;
  } finally {
    busRequestDuration.observe({ op, outcome }, (performance.now() - started) / 1000);
  }
}

/** `GET /metrics`: the process's metrics in Prometheus text format. */
export async function serveMetrics(res: ServerResponse): Promise<void> {
  const { contentType, body } = await metricsText();
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}
