import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.js';

/** One line, as createLogger writes it, of what `log.info(data)` logs. */
function logged(data: Record<string, unknown>): Record<string, unknown> {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } });
  log.info(data, 'probe');
  return JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
}

describe('createLogger redaction', () => {
  it('hides credential headers of requests and calls, and keeps the harmless ones', () => {
    const line = logged({
      headers: { authorization: 'Bearer sk-1', 'x-mcp-github-authorization': 'Bearer gh-1', 'x-mcp-auth': 'a-1', 'content-type': 'application/json' },
      req: { headers: { 'x-litellm-api-key': 'sk-2', cookie: 'c-1', accept: 'text/event-stream' } },
      call: { upstreamHeaders: { Authorization: 'Bearer up-1' } },
      clientHeaders: { 'x-mcp-web-x-token': 't-1' },
    });
    const text = JSON.stringify(line);
    for (const secret of ['sk-1', 'gh-1', 'a-1', 'sk-2', 'c-1', 'up-1', 't-1']) expect(text).not.toContain(secret);
    expect(line['headers']).toMatchObject({ 'content-type': 'application/json', authorization: '[REDACTED]' });
    expect((line['req'] as { headers: Record<string, string> }).headers['accept']).toBe('text/event-stream');
  });

  it("hides a server's auth value, configured headers and stdio env, and keys wherever they sit", () => {
    const line = logged({
      server: { name: 'github', authValue: 'ghp-1', headers: { 'X-Custom': 'custom-1' }, env: { TOKEN: 'env-1' } },
      config: { auth_value: 'av-1', env: { SECRET: 'env-2' } },
      masterKey: 'sk-master',
      client: { apiKey: 'k-1', token: 'tok-1' },
    });
    const text = JSON.stringify(line);
    for (const secret of ['ghp-1', 'custom-1', 'env-1', 'av-1', 'env-2', 'sk-master', 'k-1', 'tok-1']) expect(text).not.toContain(secret);
    expect((line['server'] as Record<string, unknown>)['name']).toBe('github');
  });
});
