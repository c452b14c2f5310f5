import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1HttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReferenceServer, type ReferenceServerHandle } from '../../scripts/conformance/reference-server.js';
import { alternatingFetch } from '../harness/clients.js';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { eventually } from '../harness/wait.js';

// An upstream whose 2026-07-28 side is stateless and offers no resource subscriptions, while its
// 2025-era sessions do (the conformance suite's own reference server is built this way). mcpbus
// speaks 2026 to it, and makes the subscriptions on a 2025-era session of their own; `touch`
// notifies only 2025-era sessions, so an update heard proves it.

let reference: ReferenceServerHandle;
let gateway: TestGateway;

beforeAll(async () => {
  reference = await startReferenceServer({ modernSubscriptions: false });
  gateway = await startGateway({ servers: { stateless: { url: reference.url } }, ingresses: 2 });
});

afterAll(async () => {
  await gateway?.close();
  await reference?.close();
});

describe('resource subscriptions to an upstream that offers them only on 2025-era sessions', () => {
  it('are made on a 2025-era session of their own, and its updates reach a 2025 session client', async () => {
    const client = new V1Client({ name: 'subs-eras', version: '1.0.0' });
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
      return Promise.resolve();
    });
    await client.connect(new V1HttpTransport(new URL(gateway.urls[0] as string), { fetch: alternatingFetch(gateway.urls, []), requestInit: { headers: gateway.headers } }));
    try {
      const uri = 'mcpbus://stateless/test://static-text';
      await client.subscribeResource({ uri });
      await eventually(
        async () => {
          await reference.touch('test://static-text');
          await eventually(() => Promise.resolve(expect(updates).toContain(uri)), { timeoutMs: 1_000, intervalMs: 25 });
        },
        { timeoutMs: 10_000 },
      );
      await client.unsubscribeResource({ uri });
    } finally {
      await client.close();
    }
  });
});
