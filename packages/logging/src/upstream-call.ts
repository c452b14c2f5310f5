import { performance } from 'node:perf_hooks';
import { upstreamCallDuration } from './metrics.js';
import { SpanKind, inSpan } from './tracing.js';

/**
 * Runs one upstream `tools/call` (a worker's inline call or a runner's job attempt) in a CLIENT
 * span and times it by role, server, upstream tool and outcome (ok, tool_error, error).
 */
export function observeUpstreamCall(role: 'worker' | 'runner', server: string, tool: string, work: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const started = performance.now();
  return inSpan(`upstream tools/call ${tool}`, () => ({ kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': tool, 'mcpbus.server': server } }), async (span) => {
    let outcome = 'error';
    try {
      const result = await work();
      outcome = result['isError'] === true ? 'tool_error' : 'ok';
      return result;
    } finally {
      upstreamCallDuration.observe({ role, server, tool, outcome }, (performance.now() - started) / 1000);
      span.setAttribute('mcpbus.outcome', outcome);
    }
  });
}
