import { randomBytes } from 'node:crypto';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { API_KEY_HEADER, createSubjects, newCallId } from '@mcpbus/protocol';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { NATS_URL } from '../harness/paths.js';
import { eventually } from '../harness/wait.js';

// A platform on the bus, with nothing but a NATS client: no mcpbus code on this side.
let nc: NatsConnection;
let http: FixtureHttpHandle;
let keyed: TestGateway;
let open: TestGateway;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  keyed = await startGateway({ servers: { web: { url: http.url } }, settings: { subject_root: `t${randomBytes(6).toString('hex')}` } });
  open = await startGateway({ servers: { web: { url: http.url } }, masterKey: null, runners: 1, settings: { subject_root: `t${randomBytes(6).toString('hex')}` } });
  nc = await connect({ servers: NATS_URL, name: 'bus-auth-test' });
});

afterAll(async () => {
  await nc?.drain();
  await keyed?.close();
  await open?.close();
  await http?.close();
});

type Reply = { ok: boolean; result?: Record<string, unknown>; task?: { taskId: string }; error?: { code: string; message: string } };

async function ask(gateway: TestGateway, subject: (s: ReturnType<typeof createSubjects>) => string, body: unknown, key?: string): Promise<Reply> {
  const h = headers();
  if (key !== undefined) h.set(API_KEY_HEADER, key);
  const msg = await nc.request(subject(createSubjects(gateway.config.settings.subjectRoot)), JSON.stringify(body), { timeout: 10_000, headers: h });
  return msg.json<Reply>();
}

const call = (args: Record<string, unknown> = { text: 'over the bus' }, extra: Record<string, unknown> = {}) => ({
  v: 1,
  callId: newCallId(),
  server: 'web',
  name: 'web-echo',
  arguments: args,
  progress: false,
  deadlineAt: Date.now() + 10_000,
  ...extra,
});

describe('the bus is no way around auth', () => {
  it('refuses list and call requests without the key, or with a wrong one, and serves them with it', async () => {
    const list = { v: 1, deadlineAt: Date.now() + 10_000 };
    for (const key of [undefined, 'sk-wrong']) {
      for (const [subject, body] of [[(s: ReturnType<typeof createSubjects>) => s.toolsList(), list], [(s: ReturnType<typeof createSubjects>) => s.toolsCall('web'), call()]] as const) {
        const reply = await ask(keyed, subject, body, key);
        expect(reply.ok).toBe(false);
        expect(reply.error?.code).toBe('unauthorized');
        expect(reply.error?.message).toContain(API_KEY_HEADER);
      }
    }
    const tools = await ask(keyed, (s) => s.toolsList(), list, MASTER_KEY);
    expect((tools.result?.['tools'] as { name: string }[]).map((t) => t.name)).toContain('web-echo');
    const echoed = await ask(keyed, (s) => s.toolsCall('web'), call(), MASTER_KEY);
    expect(echoed.result).toEqual({ content: [{ type: 'text', text: 'over the bus' }] });
    // Same validation as over HTTP.
    const invalid = await ask(keyed, (s) => s.toolsCall('web'), call({ text: 42 }), MASTER_KEY);
    expect(invalid.result?.['isError']).toBe(true);
  });

  it('delivers a message to a legacy SSE session only with the key that opened it', async () => {
    const res = await fetch(keyed.url.replace(/\/mcp$/, '/sse'), { headers: { Authorization: `Bearer ${MASTER_KEY}`, Accept: 'text/event-stream' } });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('sessionId=')) text += new TextDecoder().decode((await reader.read()).value);
    const sessionId = /sessionId=([A-Za-z0-9_-]+)/.exec(text)?.[1] as string;
    const ping = { v: 1, message: { jsonrpc: '2.0', id: 1, method: 'ping' } };
    expect((await ask(keyed, (s) => s.sessionMessages(sessionId), ping)).ok).toBe(false);
    expect((await ask(keyed, (s) => s.sessionMessages(sessionId), ping, 'sk-wrong')).ok).toBe(false);
    expect((await ask(keyed, (s) => s.sessionMessages(sessionId), ping, MASTER_KEY)).ok).toBe(true);
    await reader.cancel();
  });

  it('binds tasks to the key that created them: another key, or none, cannot see them', async () => {
    const created = await ask(open, (s) => s.toolsCall('web'), call({ text: 'mine' }, { task: {} }), 'alice');
    const taskId = created.task?.taskId as string;
    expect(taskId).toBeDefined();
    const mine = await eventually(async () => {
      const got = await ask(open, (s) => s.tasksGet(), { v: 1, taskId, outcome: true }, 'alice');
      if ((got.result?.['task'] as { status?: string } | undefined)?.status !== 'completed') throw new Error(JSON.stringify(got));
      return got;
    });
    expect(mine.result?.['outcome']).toEqual({ ok: true, result: { content: [{ type: 'text', text: 'mine' }] } });
    for (const key of ['bob', undefined]) {
      expect((await ask(open, (s) => s.tasksGet(), { v: 1, taskId }, key)).error?.code).toBe('unknown_task');
      expect((await ask(open, (s) => s.tasksCancel(), { v: 1, taskId }, key)).error?.code).toBe('unknown_task');
      const listed = await ask(open, (s) => s.tasksList(), { v: 1 }, key);
      expect((listed.result?.['tasks'] as { taskId: string }[]).map((t) => t.taskId)).not.toContain(taskId);
    }
  });
});

describe('deadlines on task requests', () => {
  it('does nothing for a task request picked up after its deadline, and serves one within it', async () => {
    const late = await ask(keyed, (s) => s.tasksCancel(), { v: 1, taskId: 'any-task', deadlineAt: Date.now() - 1 }, MASTER_KEY);
    expect(late.error).toMatchObject({ code: 'timeout' });
    const inTime = await ask(keyed, (s) => s.tasksGet(), { v: 1, taskId: 'no-such-task', deadlineAt: Date.now() + 5_000 }, MASTER_KEY);
    expect(inTime.error).toMatchObject({ code: 'unknown_task' });
    // Clients from before the field keep working.
    const without = await ask(keyed, (s) => s.tasksList(), { v: 1 }, MASTER_KEY);
    expect(without.ok).toBe(true);
  });
});
