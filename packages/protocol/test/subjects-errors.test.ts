import { describe, expect, it } from 'vitest';
import { createSubjects, ERROR_WIRE, ErrorCode, jsonRpcCodeOf, McpbusError, serverFromToken, serverToken } from '../src/index.js';

describe('subjects', () => {
  it('are versioned and built from the root', () => {
    const s = createSubjects('mcpbus');
    expect(s.toolsList()).toBe('mcpbus.v1.tools.list');
    expect(s.toolsCall('github')).toBe('mcpbus.v1.tools.call.github');
    expect(s.callEvents('abc123')).toBe('mcpbus.v1.calls.abc123.events');
    expect(s.callCancel('abc123')).toBe('mcpbus.v1.calls.abc123.cancel');
  });

  it('keep server names with dots in one token, reversibly', () => {
    for (const name of ['a.b', 'a_b', 'a__b', 'a_.d', 'x_d', 'a._b']) {
      const token = serverToken(name);
      expect(token).not.toContain('.');
      expect(serverFromToken(token)).toBe(name);
    }
    expect(serverToken('a.b')).not.toBe(serverToken('a_b'));
  });

  it('refuse roots and call ids that would break subject syntax', () => {
    expect(() => createSubjects('Bad Root')).toThrow();
    expect(() => createSubjects('mcpbus').callEvents('a.b')).toThrow();
    expect(() => createSubjects('mcpbus').callEvents('*')).toThrow();
  });
});

describe('errors', () => {
  it('map every code to a JSON-RPC code and an HTTP status', () => {
    for (const code of Object.values(ErrorCode)) {
      expect(Number.isInteger(ERROR_WIRE[code].jsonRpcCode)).toBe(true);
      expect(ERROR_WIRE[code].httpStatus).toBeGreaterThanOrEqual(400);
    }
    expect(ERROR_WIRE.unknown_tool).toEqual({ jsonRpcCode: -32602, httpStatus: 404 });
    expect(ERROR_WIRE.invalid_params.httpStatus).toBe(400);
    expect(ERROR_WIRE.upstream_unavailable.httpStatus).toBe(502);
    expect(ERROR_WIRE.upstream_timeout.httpStatus).toBe(504);
    expect(ERROR_WIRE.no_workers.httpStatus).toBe(503);
  });

  it('keep an upstream JSON-RPC code when relaying an upstream error', () => {
    expect(jsonRpcCodeOf(new McpbusError(ErrorCode.UpstreamError, 'x', { data: { jsonRpcCode: -32602 } }))).toBe(-32602);
    expect(jsonRpcCodeOf(new McpbusError(ErrorCode.UpstreamError, 'x'))).toBe(-32603);
  });

  it('round-trip through a bus reply body', () => {
    const err = McpbusError.fromBody(new McpbusError(ErrorCode.UnknownTool, 'Unknown tool: x', { data: { server: 's' } }).toBody());
    expect(err.code).toBe('unknown_tool');
    expect(err.data).toEqual({ server: 's' });
    expect(McpbusError.fromBody({ code: 'made_up' as never, message: 'm' }).code).toBe('internal');
  });
});
