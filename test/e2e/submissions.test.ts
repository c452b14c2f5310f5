import { randomBytes } from 'node:crypto';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { API_KEY_HEADER, REPLY_TO_HEADER, createSubjects, newCallId, type Subjects } from '@mcpbus/protocol';
import { MASTER_KEY, startGateway, type GatewayOptions, type TestGateway } from '../harness/gateway.js';
import { NATS_URL } from '../harness/paths.js';
import { eventually } from '../harness/wait.js';

// An agent platform submitting durably with nothing but a NATS client.
let nc: NatsConnection;
let js: JetStreamClient;
let http: FixtureHttpHandle;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  nc = await connect({ servers: NATS_URL, name: 'submissions-test' });
  js = jetstream(nc);
});

afterAll(async () => {
  await nc?.drain();
  await Promise.allSettled(gateways.map((g) => g.close()));
  await http?.close();
});

async function gateway(options: Partial<GatewayOptions> = {}, root = `t${randomBytes(6).toString('hex')}`): Promise<{ gw: TestGateway; subjects: Subjects; root: string }> {
  const gw = await startGateway({ servers: { web: { url: http.url } }, runners: 1, ...options, settings: { subject_root: root, ...options.settings } });
  gateways.push(gw);
  return { gw, subjects: createSubjects(root), root };
}

function call(name: string, args: Record<string, unknown>, callId = newCallId()) {
  return { v: 1, callId, server: 'web', name, arguments: args, progress: false, deadlineAt: Date.now() + 60_000 };
}

const keyed = (key: string | undefined, msgID?: string) => {
  const h = headers();
  if (key !== undefined) h.set(API_KEY_HEADER, key);
  return msgID === undefined ? { headers: h } : { headers: h, msgID };
};

type End = { type: string; outcome: { ok: boolean; result?: Record<string, unknown>; error?: { code: string; message: string } } };

/** Listens for a call's end event (subscribe before submitting). */
function endOf(subjects: Subjects, callId: string): Promise<End> {
  return new Promise((resolve) => {
    const sub = nc.subscribe(subjects.callEvents(callId), {
      callback: (_err, msg) => {
        const event = msg.json<End>();
        if (event.type === 'result') {
          sub.unsubscribe();
          resolve(event);
        }
      },
    });
  });
}

async function stats(subjects: Subjects): Promise<{ started: number }> {
  const reply = (await nc.request(subjects.toolsCall('web'), JSON.stringify(call('web-slow_stats', {})), { timeout: 10_000, ...keyed(MASTER_KEY) })).json<{ result: { content: { text: string }[] } }>();
  return JSON.parse(reply.result.content[0]?.text ?? '{}') as never;
}

describe('durable submission (JetStream)', () => {
  it('runs a submitted call as a job whose end is announced and can be fetched later', async () => {
    const { subjects } = await gateway();
    const body = call('web-echo', { text: 'durable' });
    const ended = endOf(subjects, body.callId);
    await nc.flush();
    const ack = await js.publish(subjects.submit('web'), JSON.stringify(body), keyed(MASTER_KEY, body.callId));
    expect(ack.duplicate).toBe(false);
    expect((await ended).outcome).toEqual({ ok: true, result: { content: [{ type: 'text', text: 'durable' }] } });
    const fetched = (await nc.request(subjects.tasksGet(), JSON.stringify({ v: 1, taskId: body.callId, outcome: true }), { timeout: 10_000, ...keyed(MASTER_KEY) })).json<{ result: { task: { status: string }; outcome: unknown } }>();
    expect(fetched.result.task.status).toBe('completed');
    expect(fetched.result.outcome).toEqual({ ok: true, result: { content: [{ type: 'text', text: 'durable' }] } });
  });

  it('also announces the end on the reply subject the submitter names', async () => {
    const { subjects } = await gateway();
    const inbox = `reply.${randomBytes(6).toString('hex')}`;
    const replies: End[] = [];
    const sub = nc.subscribe(inbox, {
      callback: (_err, msg) => {
        replies.push(msg.json<End>());
      },
    });
    const good = call('web-echo', { text: 'to my inbox' });
    const bad = call('web-echo', {});
    await nc.flush();
    for (const body of [good, bad]) {
      const h = headers();
      h.set(API_KEY_HEADER, MASTER_KEY);
      h.set(REPLY_TO_HEADER, inbox);
      await js.publish(subjects.submit('web'), JSON.stringify(body), { headers: h });
    }
    await eventually(() => (replies.length === 2 ? Promise.resolve() : Promise.reject(new Error(`${replies.length} replies`))));
    sub.unsubscribe();
    expect(replies.map((r) => r.outcome)).toEqual(
      expect.arrayContaining([{ ok: true, result: { content: [{ type: 'text', text: 'to my inbox' }] } }, expect.objectContaining({ ok: true, result: expect.objectContaining({ isError: true }) })]),
    );
  });

  it('refuses reply subjects inside mcpbus or with wildcards, and a body naming another server than its subject', async () => {
    const { subjects, root } = await gateway();
    for (const [reply, server] of [[`${root}.v1.tools.list`, 'web'], ['_INBOX.>', 'web'], [undefined, 'other']] as const) {
      const body = { ...call('web-echo', { text: 'x' }), server };
      const end = endOf(subjects, body.callId);
      await nc.flush();
      const h = headers();
      h.set(API_KEY_HEADER, MASTER_KEY);
      if (reply !== undefined) h.set(REPLY_TO_HEADER, reply);
      await js.publish(subjects.submit('web'), JSON.stringify(body), { headers: h });
      expect((await end).outcome.error?.code).toBe('bad_request');
    }
  });

  it('makes a resubmission harmless: the same Nats-Msg-Id is a duplicate, the same call id is not run again', async () => {
    const { subjects } = await gateway();
    const before = await stats(subjects);
    const body = call('web-slow', { steps: 1, delayMs: 0 });
    const ended = endOf(subjects, body.callId);
    await nc.flush();
    expect((await js.publish(subjects.submit('web'), JSON.stringify(body), keyed(MASTER_KEY, body.callId))).duplicate).toBe(false);
    expect((await js.publish(subjects.submit('web'), JSON.stringify(body), keyed(MASTER_KEY, body.callId))).duplicate).toBe(true);
    await ended;
    // Past JetStream's duplicate window a resubmission still finds the task of its call id.
    await js.publish(subjects.submit('web'), JSON.stringify(body), keyed(MASTER_KEY, `${body.callId}-again`));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await stats(subjects)).started - before.started).toBe(1);
  });

  it('answers a bad submission without running it, and refuses one without the key', async () => {
    const { subjects } = await gateway();
    const bad = call('web-slow', { steps: 'many' });
    const badEnd = endOf(subjects, bad.callId);
    await nc.flush();
    await js.publish(subjects.submit('web'), JSON.stringify(bad), keyed(MASTER_KEY));
    expect((await badEnd).outcome.result?.['isError']).toBe(true);

    const anonymous = call('web-echo', { text: 'who?' });
    const refused = endOf(subjects, anonymous.callId);
    await nc.flush();
    await js.publish(subjects.submit('web'), JSON.stringify(anonymous), keyed(undefined));
    expect((await refused).outcome.error?.code).toBe('unauthorized');
    const lookup = (await nc.request(subjects.tasksGet(), JSON.stringify({ v: 1, taskId: anonymous.callId }), { timeout: 10_000, ...keyed(MASTER_KEY) })).json<{ error?: { code: string } }>();
    expect(lookup.error?.code).toBe('unknown_task');
  });

  it('refuses submissions with a clear error once the backlog bound is reached', async () => {
    // No runner: jobs pile up in the queue, then submissions in the stream.
    const { subjects } = await gateway({ runners: 0, settings: { submit_backlog_max: 3 } });
    let refused: unknown;
    await eventually(
      async () => {
        try {
          await js.publish(subjects.submit('web'), JSON.stringify(call('web-echo', { text: 'more' })), keyed(MASTER_KEY));
        } catch (err: unknown) {
          refused = err;
          return;
        }
        throw new Error('still accepted');
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(String(refused)).toMatch(/maximum messages/i);
  });

  it('loses no acknowledged submission while no worker runs', async () => {
    const root = `t${randomBytes(6).toString('hex')}`;
    const { gw, subjects } = await gateway({}, root);
    await gw.close({ keepStream: true });
    const bodies = Array.from({ length: 5 }, (_, i) => call('web-echo', { text: `while down ${i}` }));
    for (const body of bodies) await js.publish(subjects.submit('web'), JSON.stringify(body), keyed(MASTER_KEY, body.callId));

    await gateway({}, root);
    for (const body of bodies) {
      await eventually(async () => {
        const got = (await nc.request(subjects.tasksGet(), JSON.stringify({ v: 1, taskId: body.callId, outcome: true }), { timeout: 10_000, ...keyed(MASTER_KEY) })).json<{ result?: { task: { status: string }; outcome: { ok: boolean; result: { content: { text: string }[] } } } }>();
        if (got.result?.task.status !== 'completed') throw new Error(`not done: ${JSON.stringify(got)}`);
        expect(got.result.outcome.result.content[0]?.text).toBe(body.arguments.text);
      }, { timeoutMs: 20_000 });
    }
  });
});
