import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { CALL_QUEUE, jobKeys, type CallJob } from '@mcpbus/jobs';
import { startTracing, type TracingHandle } from '@mcpbus/logging';
import { createSubjects } from '@mcpbus/protocol';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { NATS_URL } from '../harness/paths.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';
import { eventually } from '../harness/wait.js';

/** A span as OTLP/HTTP JSON carries it: hex ids, kind 2 server, 3 client, 4 producer, 5 consumer. */
interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
}
const KIND = { server: 2, client: 3, producer: 4, consumer: 5 } as const;

let receiver: Server;
const received: ExportedSpan[] = [];
const requests: { contentType: string | undefined }[] = [];
let tracing: TracingHandle;
let http: FixtureHttpHandle;
let gateway: TestGateway;
let nc: NatsConnection;
/** tools.call messages as the workers got them, seen by a listener of our own (no queue group). */
const callMessages: Msg[] = [];

/** A tiny OTLP/HTTP receiver: what the exporter posts to /v1/traces, as JSON. */
function startReceiver(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ contentType: req.headers['content-type'] });
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: { scopeSpans?: { spans?: ExportedSpan[] }[] }[] };
        for (const resource of body.resourceSpans ?? []) for (const scope of resource.scopeSpans ?? []) received.push(...(scope.spans ?? []));
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  receiver = await startReceiver();
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  tracing = await startTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }, serviceName: 'mcpbus-tracing-test' });
  http = await startFixtureHttp({ port: 0 });
  const root = `t${randomBytes(6).toString('hex')}`;
  nc = await connect({ servers: NATS_URL, name: 'tracing-test' });
  nc.subscribe(createSubjects(root).toolsCallAny(), { callback: (_err, msg) => void callMessages.push(msg) });
  await nc.flush();
  // Roles in this process export through the tracing above; as separate processes (`pnpm
  // test:topology`) each exports its own spans, batched for at most 100 ms.
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };
  gateway = await startGateway({ servers: { web: { url: http.url }, jobs: { url: http.url, execution: 'job' } }, runners: 1, settings: { subject_root: root }, env });
});

afterAll(async () => {
  await gateway?.close();
  await nc?.drain();
  await http?.close();
  await tracing?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const attribute = (span: ExportedSpan, key: string): string | undefined => span.attributes?.find((a) => a.key === key)?.value.stringValue;
const parentOf = (span: ExportedSpan): string | undefined => (span.parentSpanId === undefined || span.parentSpanId === '' ? undefined : span.parentSpanId);

/** The spans of one trace once those named have all arrived (flushing the exporter meanwhile). */
async function traceWith(traceId: string, names: string[]): Promise<ExportedSpan[]> {
  return eventually(async () => {
    await tracing.flush();
    const spans = received.filter((s) => s.traceId === traceId);
    const missing = names.filter((name) => !spans.some((s) => s.name === name));
    if (missing.length > 0) throw new Error(`spans not exported yet: ${missing.join(', ')} (have ${spans.map((s) => s.name).join(', ')})`);
    return spans;
  });
}

function only(spans: ExportedSpan[], name: string, kind: number): ExportedSpan {
  const found = spans.filter((s) => s.name === name && s.kind === kind);
  if (found.length !== 1) throw new Error(`${found.length} spans named ${name} of kind ${kind}: ${JSON.stringify(spans.map((s) => [s.name, s.kind]))}`);
  return found[0] as ExportedSpan;
}

/** The one tools.call message of a call, by the call id its body carries. */
function messageOfCall(callId: string): Msg {
  const msg = callMessages.find((m) => (m.json<{ callId: string }>()).callId === callId);
  if (msg === undefined) throw new Error(`no tools.call message for ${callId}`);
  return msg;
}

describe('tracing (OTLP/HTTP)', () => {
  it("makes a job call one trace, continuing the client's: ingress → NATS headers → worker → job data → runner → upstream", async () => {
    const traceId = hex(16);
    const clientSpanId = hex(8);
    const response = responseOf(await legacyRpc(gateway.url, { ...gateway.headers, traceparent: `00-${traceId}-${clientSpanId}-01` }, 'tools/call', { name: 'jobs-echo', arguments: { text: 'traced' } }));
    expect(response.result).toBeDefined();

    const spans = await traceWith(traceId, ['POST mcp', 'tools/call jobs-echo', 'enqueue tools/call jobs-echo', 'job tools/call jobs-echo', 'upstream tools/call echo']);
    expect(requests.every((r) => r.contentType?.includes('application/json'))).toBe(true);
    const httpSpan = only(spans, 'POST mcp', KIND.server);
    const ingressCall = only(spans, 'tools/call jobs-echo', KIND.client);
    const workerCall = only(spans, 'tools/call jobs-echo', KIND.server);
    const enqueue = only(spans, 'enqueue tools/call jobs-echo', KIND.producer);
    const job = only(spans, 'job tools/call jobs-echo', KIND.consumer);
    const upstream = only(spans, 'upstream tools/call echo', KIND.client);

    expect(parentOf(httpSpan)).toBe(clientSpanId);
    expect(parentOf(ingressCall)).toBe(httpSpan.spanId);
    expect(parentOf(workerCall)).toBe(ingressCall.spanId);
    expect(parentOf(enqueue)).toBe(workerCall.spanId);
    expect(parentOf(job)).toBe(enqueue.spanId);
    expect(parentOf(upstream)).toBe(job.spanId);

    // The links between processes are the messages themselves: the NATS request's headers name
    // the ingress's span, the BullMQ job's data the worker's enqueue span.
    const callId = attribute(ingressCall, 'mcpbus.call_id') as string;
    expect(messageOfCall(callId).headers?.get('traceparent')).toBe(`00-${traceId}-${ingressCall.spanId}-01`);
    const queue = new Queue<CallJob>(CALL_QUEUE, { connection: { host: '127.0.0.1', port: 6379 }, prefix: jobKeys(gateway.config.settings.subjectRoot).bullPrefix });
    try {
      const stored = await queue.getJob(callId);
      expect(stored?.data.trace?.['traceparent']).toBe(`00-${traceId}-${enqueue.spanId}-01`);
    } finally {
      await queue.close();
    }
  });

  it('starts a trace for a client that sends none, and chains an inline call through the worker to the upstream', async () => {
    const before = new Set(received.map((s) => s.traceId));
    expect(responseOf(await legacyRpc(gateway.url, gateway.headers, 'tools/call', { name: 'web-echo', arguments: { text: 'inline' } })).result).toBeDefined();
    const traceId = await eventually(async () => {
      await tracing.flush();
      const root = received.find((s) => s.name === 'tools/call web-echo' && s.kind === KIND.client && !before.has(s.traceId));
      if (root === undefined) throw new Error('no new trace yet');
      return root.traceId;
    });
    const spans = await traceWith(traceId, ['POST mcp', 'tools/call web-echo', 'upstream tools/call echo']);
    const httpSpan = only(spans, 'POST mcp', KIND.server);
    const ingressCall = only(spans, 'tools/call web-echo', KIND.client);
    const workerCall = only(spans, 'tools/call web-echo', KIND.server);
    const upstream = only(spans, 'upstream tools/call echo', KIND.client);
    expect(parentOf(httpSpan)).toBeUndefined();
    expect(parentOf(ingressCall)).toBe(httpSpan.spanId);
    expect(parentOf(workerCall)).toBe(ingressCall.spanId);
    expect(parentOf(upstream)).toBe(workerCall.spanId);
    const callId = attribute(ingressCall, 'mcpbus.call_id') as string;
    expect(messageOfCall(callId).headers?.get('traceparent')).toBe(`00-${traceId}-${ingressCall.spanId}-01`);
  });

  it("honours a client's decision not to sample: nothing is exported, the decision travels on", async () => {
    const traceId = hex(16);
    const response = responseOf(await legacyRpc(gateway.url, { ...gateway.headers, traceparent: `00-${traceId}-${hex(8)}-00` }, 'tools/call', { name: 'web-echo', arguments: { text: 'unsampled' } }));
    expect(response.result).toBeDefined();
    const message = await eventually(() => {
      const found = callMessages.find((m) => m.headers?.get('traceparent').includes(traceId) === true);
      return found === undefined ? Promise.reject(new Error('no message yet')) : Promise.resolve(found);
    });
    expect(message.headers?.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    await tracing.flush();
    expect(received.filter((s) => s.traceId === traceId)).toEqual([]);
  });
});
