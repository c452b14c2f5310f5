import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { createSubjects, ownerOfKey, type CallAudit } from '@mcpbus/protocol';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { NATS_URL } from '../harness/paths.js';
import { legacyRpc } from '../harness/raw-mcp.js';
import { eventually } from '../harness/wait.js';

let nc: NatsConnection;
let http: FixtureHttpHandle;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  nc = await connect({ servers: NATS_URL, name: 'audit-test' });
});

afterAll(async () => {
  await nc?.drain();
  await Promise.allSettled(gateways.map((g) => g.close()));
  await http?.close();
});

async function auditedGateway(settings: Record<string, unknown> = {}): Promise<{ gateway: TestGateway; records: CallAudit[] }> {
  const root = `t${randomBytes(6).toString('hex')}`;
  const records: CallAudit[] = [];
  nc.subscribe(createSubjects(root).auditCalls(), { callback: (_err, msg) => void records.push(msg.json<CallAudit>()) });
  await nc.flush();
  const gateway = await startGateway({ servers: { web: { url: http.url }, jobs: { url: http.url, execution: 'job' } }, runners: 1, settings: { subject_root: root, ...settings } });
  gateways.push(gateway);
  return { gateway, records };
}

const call = (gateway: TestGateway, name: string, args: Record<string, unknown>) => legacyRpc(gateway.url, gateway.headers, 'tools/call', { name, arguments: args });

describe('the audit trail', () => {
  it('records every call — who, server, tool, outcome, duration — without arguments or keys by default', async () => {
    const { gateway, records } = await auditedGateway();
    await call(gateway, 'web-echo', { text: 'secret-ish' });
    await call(gateway, 'web-echo', {});
    await call(gateway, 'web-nope', {});
    await call(gateway, 'jobs-echo', { text: 'as a job' });
    await eventually(() => (records.length >= 5 ? Promise.resolve() : Promise.reject(new Error(`${records.length} records`))));
    const summary = records.map((r) => [r.tool, r.outcome, r.job]);
    expect(summary).toEqual(
      expect.arrayContaining([
        ['web-echo', 'ok', false],
        ['web-echo', 'tool_error', false],
        ['web-nope', 'error', false],
        ['jobs-echo', 'queued', false],
        ['jobs-echo', 'ok', true],
      ]),
    );
    for (const record of records) {
      expect(record.owner).toBe(ownerOfKey(MASTER_KEY));
      expect(record.durationMs).toBeGreaterThanOrEqual(0);
      expect(record.arguments).toBeUndefined();
    }
    expect(records.find((r) => r.outcome === 'error')?.errorCode).toBeDefined();
    expect(JSON.stringify(records)).not.toContain(MASTER_KEY);
    expect(JSON.stringify(records)).not.toContain('secret-ish');
  });

  it('includes arguments when the deployment opts in', async () => {
    const { gateway, records } = await auditedGateway({ audit_arguments: true });
    await call(gateway, 'web-echo', { text: 'kept' });
    await eventually(() => (records.length >= 1 ? Promise.resolve() : Promise.reject(new Error('no record'))));
    expect(records[0]?.arguments).toEqual({ text: 'kept' });
  });
});
