import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternatingFetch, connectClient, textOf, type ClientKind } from '../harness/clients.js';
import { fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway({ servers: { fx: fixtureStdio() }, ingresses: 2, workers: 2 });
});

afterAll(async () => {
  await gateway?.close();
});

describe.each<ClientKind>(['v2-legacy', 'v2-modern', 'v1'])('two ingress replicas, %s client alternating between them', (kind) => {
  it('serves consecutive requests whichever replica they land on', async () => {
    const seen: string[] = [];
    const client = await connectClient(kind, gateway.url, gateway.headers, { fetch: alternatingFetch(gateway.urls, seen) });
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('fx-echo');
      for (let i = 0; i < 6; i += 1) expect(textOf(await client.callTool('fx-echo', { text: `call ${i}` }))).toBe(`call ${i}`);
      const progress: number[] = [];
      const slow = await client.callTool('fx-slow', { steps: 3, delayMs: 10 }, { onprogress: (p) => progress.push(p.progress) });
      expect(textOf(slow)).toBe('done after 3 steps');
      expect(progress.length).toBeGreaterThanOrEqual(2);
    } finally {
      await client.close();
    }
    // Both replicas really served this client.
    expect(new Set(seen.map((u) => new URL(u).origin))).toEqual(new Set(gateway.urls.map((u) => new URL(u).origin)));
  });
});
