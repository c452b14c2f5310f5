import { describe, expect, it } from 'vitest';
import { parseConfig } from '@mcpbus/config';
import type { CatalogTool } from '@mcpbus/protocol';
import { isRetriable, runsAsJob } from '../src/submit-job.js';

const config = parseConfig(
  `
mcp_servers:
  fx:
    url: http://127.0.0.1:1/mcp
    tools:
      never: { idempotent: false }
      always: { idempotent: true, execution: job }
  batch:
    url: http://127.0.0.1:1/mcp
    execution: job
    tools:
      quick: { execution: inline }
`,
  { env: {} },
);
const [fx, batch] = config.servers;
if (fx === undefined || batch === undefined) throw new Error('config');

const tool = (upstreamName: string, annotations?: Record<string, unknown>): CatalogTool => ({
  name: `x-${upstreamName}`,
  server: 'x',
  upstreamName,
  tool: { name: `x-${upstreamName}`, inputSchema: { type: 'object' }, ...(annotations === undefined ? {} : { annotations }) },
});

describe('which job calls may run again', () => {
  it('lets the config decide first, then an idempotency key, then the annotations', () => {
    expect(isRetriable(fx, tool('never', { readOnlyHint: true }), 'key-1')).toBe(false);
    expect(isRetriable(fx, tool('always'), undefined)).toBe(true);
    expect(isRetriable(fx, tool('plain'), 'key-1')).toBe(true);
    expect(isRetriable(fx, tool('plain', { readOnlyHint: true }), undefined)).toBe(true);
    expect(isRetriable(fx, tool('plain', { idempotentHint: true }), undefined)).toBe(true);
    expect(isRetriable(fx, tool('plain', { destructiveHint: true }), undefined)).toBe(false);
    expect(isRetriable(fx, tool('plain'), undefined)).toBe(false);
  });
});

describe('which calls run as jobs', () => {
  it('follows the tool, then its server', () => {
    expect(runsAsJob(fx, tool('always'))).toBe(true);
    expect(runsAsJob(fx, tool('plain'))).toBe(false);
    expect(runsAsJob(batch, tool('anything'))).toBe(true);
    expect(runsAsJob(batch, tool('quick'))).toBe(false);
  });
});
