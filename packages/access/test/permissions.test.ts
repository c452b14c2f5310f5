import { describe, expect, it } from 'vitest';
import { NO_MCP_SERVERS, allowsServer, allowsTool, effectiveAccess, isUnrestricted } from '../src/permissions.js';

describe('effectiveAccess', () => {
  it('grants everything when no grant restricts', () => {
    const access = effectiveAccess([undefined, {}, { mcp_servers: [] }]);
    expect(isUnrestricted(access)).toBe(true);
    expect(allowsTool(access, 'any', 'tool')).toBe(true);
  });

  it('intersects the servers of every grant', () => {
    const access = effectiveAccess([{ mcp_servers: ['a', 'b'] }, { mcp_servers: ['b', 'c'] }]);
    expect(allowsServer(access, 'b')).toBe(true);
    expect(allowsServer(access, 'a')).toBe(false);
    expect(allowsServer(access, 'c')).toBe(false);
  });

  it('lets a key without servers inherit its team\'s, and a team without servers leave the key\'s', () => {
    expect(allowsServer(effectiveAccess([{}, { mcp_servers: ['t'] }]), 'x')).toBe(false);
    expect(allowsServer(effectiveAccess([{}, { mcp_servers: ['t'] }]), 't')).toBe(true);
    expect(allowsServer(effectiveAccess([{ mcp_servers: ['k'] }, undefined]), 'k')).toBe(true);
  });

  it('reads no-mcp-servers as no server at all, whatever else is listed', () => {
    const access = effectiveAccess([{ mcp_servers: [NO_MCP_SERVERS, 'a'] }]);
    expect(allowsServer(access, 'a')).toBe(false);
  });

  it('intersects tool lists per server, and leaves servers without one whole', () => {
    const access = effectiveAccess([{ mcp_tool_permissions: { a: ['x', 'y'] } }, { mcp_tool_permissions: { a: ['y', 'z'] } }]);
    expect(allowsTool(access, 'a', 'y')).toBe(true);
    expect(allowsTool(access, 'a', 'x')).toBe(false);
    expect(allowsTool(access, 'a', 'z')).toBe(false);
    expect(allowsTool(access, 'b', 'anything')).toBe(true);
  });

  it('follows servers by id through renames, and grants nothing once every listed server is gone', () => {
    const names = new Map([['id-1', 'renamed']]);
    const resolve = (ref: string): string | undefined => names.get(ref);
    const access = effectiveAccess([{ mcp_servers: ['id-1'], mcp_tool_permissions: { 'id-1': ['x'] } }], resolve);
    expect(allowsTool(access, 'renamed', 'x')).toBe(true);
    expect(allowsTool(access, 'renamed', 'y')).toBe(false);
    names.clear();
    const gone = effectiveAccess([{ mcp_servers: ['id-1'] }], resolve);
    expect(gone.servers?.size).toBe(0);
    expect(allowsServer(gone, 'renamed')).toBe(false);
  });

  it('refuses a tool of a server the grant does not allow, even when the tool is listed', () => {
    const access = effectiveAccess([{ mcp_servers: ['b'], mcp_tool_permissions: { a: ['x'] } }]);
    expect(allowsTool(access, 'a', 'x')).toBe(false);
  });
});
