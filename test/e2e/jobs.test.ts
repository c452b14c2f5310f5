import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { CALL_QUEUE, jobKeys } from '@mcpbus/jobs';
import { alternatingFetch, connectClient, textOf, withKey } from '../harness/clients.js';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { EVERYTHING_BIN, REPO_ROOT } from '../harness/paths.js';
import { legacyRpc, modernRpc, progressOf, responseOf } from '../harness/raw-mcp.js';
import { eventually } from '../harness/wait.js';

// No master key: every presented key is accepted and is its own owner, so two keys are two callers.
const ALICE = { Authorization: 'Bearer alice' };
const BOB = { Authorization: 'Bearer bob' };

let http: FixtureHttpHandle;
let gateway: TestGateway;
let urls: string[];

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({
    servers: {
      // Every call of `jobs` is a job; `web` is inline unless a client asks for a task, and its
      // `slow` tool is declared non-idempotent (its annotation says read-only).
      jobs: { url: http.url, execution: 'job' },
      web: { url: http.url, tools: { slow: { idempotent: false } } },
      everything: { transport: 'stdio', command: EVERYTHING_BIN, args: ['stdio'], cwd: REPO_ROOT, tools: { 'trigger-long-running-operation': { execution: 'job' } } },
    },
    masterKey: null,
    ingresses: 2,
    runners: 1,
    settings: { list_deadline_ms: 15_000, task_poll_interval_ms: 200 },
  });
  urls = gateway.urls;
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

type Task = { taskId: string; status: string; ttl?: number; pollInterval?: number; statusMessage?: string };

async function slowStats(): Promise<{ started: number; finished: number; cancelled: number }> {
  const result = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tools/call', { name: 'web-slow_stats', arguments: {} })).result;
  return JSON.parse((result?.['content'] as { text: string }[])[0]?.text ?? '{}') as never;
}

async function startTask(url: string, headers: Record<string, string>, name: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Task> {
  const response = responseOf(await legacyRpc(url, headers, 'tools/call', { name, arguments: args, task: { ttl: 60_000 }, ...extra }));
  if (response.result === undefined) throw new Error(`no task: ${JSON.stringify(response.error)}`);
  return response.result['task'] as Task;
}

async function taskOf(url: string, headers: Record<string, string>, taskId: string): Promise<Task> {
  const { result, error } = responseOf(await legacyRpc(url, headers, 'tasks/get', { taskId }));
  if (result === undefined) throw new Error(`tasks/get failed: ${JSON.stringify(error)}`);
  return result as Task;
}

/** ALICE's task that a runner is running now (found through tasks/list on the second replica). */
async function runningTask(): Promise<Task> {
  return eventually(async () => {
    const tasks = responseOf(await legacyRpc(urls[1] as string, ALICE, 'tasks/list', {})).result?.['tasks'] as Task[];
    const found = tasks.find((t) => t.status === 'working' && t.statusMessage === 'running');
    if (found === undefined) throw new Error('not running yet');
    return found;
  }, { timeoutMs: 10_000 });
}

/**
 * Starts a long job call, aborts it (the client sends notifications/cancelled) after its second
 * progress update, and checks that the upstream was told and the task ended cancelled.
 */
async function expectCancelledAfterProgress(before: { cancelled: number }, start: (signal: AbortSignal, onprogress: (p: { progress: number }) => void) => Promise<unknown>): Promise<void> {
  const abort = new AbortController();
  const onprogress = (p: { progress: number }): void => {
    if (p.progress >= 2) abort.abort('enough');
  };
  await expect(start(abort.signal, onprogress)).rejects.toThrow();
  await eventually(async () => {
    if ((await slowStats()).cancelled === before.cancelled) throw new Error('upstream not cancelled yet');
  }, { timeoutMs: 5_000 });
  const tasks = responseOf(await legacyRpc(urls[1] as string, ALICE, 'tasks/list', {})).result?.['tasks'] as Task[];
  expect(tasks.at(-1)?.status).toBe('cancelled');
}

async function untilEnded(url: string, headers: Record<string, string>, taskId: string): Promise<Task> {
  return eventually(async () => {
    const task = await taskOf(url, headers, taskId);
    if (task.status === 'working') throw new Error('still working');
    return task;
  }, { timeoutMs: 20_000 });
}

describe('calls that run as jobs', () => {
  it.each(['v2-legacy', 'v2-modern', 'v1'] as const)('reach a %s client with every progress update in order, then the result', async (kind) => {
    const client = await connectClient(kind, urls[0] as string, ALICE);
    try {
      const progress: number[] = [];
      const result = await client.callTool('jobs-slow', { steps: 5, delayMs: 0 }, { onprogress: (p) => progress.push(p.progress) });
      expect(textOf(result)).toBe('done after 5 steps');
      expect(progress).toEqual([1, 2, 3, 4, 5]);

      const everything: number[] = [];
      const done = await client.callTool('everything-trigger-long-running-operation', { duration: 0.5, steps: 5 }, { onprogress: (p) => everything.push(p.progress) });
      expect(textOf(done)).toMatch(/completed/i);
      expect(everything).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await client.close();
    }
  });

  it('relays progress on the raw 2025 SSE stream with the client token, then the result', async () => {
    const messages = await legacyRpc(urls[1] as string, ALICE, 'tools/call', { name: 'jobs-slow', arguments: { steps: 5, delayMs: 0 }, _meta: { progressToken: 'p1' } });
    expect(progressOf(messages).map((p) => [p.progress, p.progressToken])).toEqual([1, 2, 3, 4, 5].map((n) => [n, 'p1']));
    expect(messages.at(-1)?.['result']).toEqual({ content: [{ type: 'text', text: 'done after 5 steps' }] });
  });

  it('validates a job call before it is queued: a bad call never becomes a job', async () => {
    const before = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tasks/list', {})).result?.['tasks'] as Task[];
    const inline = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tools/call', { name: 'jobs-slow', arguments: { steps: 'many' } })).result;
    expect(inline?.['isError']).toBe(true);
    const asTask = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tools/call', { name: 'web-slow', arguments: { steps: -1 }, task: {} }));
    expect(asTask.error?.code).toBe(-32602);
    expect(asTask.error?.message).toContain('steps');
    const after = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tasks/list', {})).result?.['tasks'] as Task[];
    expect(after.length).toBe(before.length);
  });
});

describe('2025-11-25 tasks', () => {
  it('advertises task support and marks every tool as callable as a task', async () => {
    const init = responseOf(await legacyRpc(urls[0] as string, ALICE, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } })).result;
    expect(init?.['capabilities']).toMatchObject({ tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } });
    const tools = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tools/list', {})).result?.['tools'] as { name: string; execution?: { taskSupport?: string } }[];
    expect(tools.find((t) => t.name === 'web-echo')?.execution?.taskSupport).toBe('optional');
  });

  it('answers a task-augmented call at once, then tasks/get, tasks/result and tasks/list (the caller’s only)', async () => {
    const task = await startTask(urls[0] as string, ALICE, 'web-echo', { text: 'as a task' });
    expect(task).toMatchObject({ status: 'working', ttl: 60_000, pollInterval: 200 });
    expect(task.taskId).toMatch(/^[0-9a-f]{32}$/);
    // Any replica answers for the task: its state is in Redis.
    expect((await untilEnded(urls[1] as string, ALICE, task.taskId)).status).toBe('completed');
    const payload = responseOf(await legacyRpc(urls[1] as string, ALICE, 'tasks/result', { taskId: task.taskId })).result;
    expect(payload?.['content']).toEqual([{ type: 'text', text: 'as a task' }]);
    expect(payload?.['_meta']).toEqual({ 'io.modelcontextprotocol/related-task': { taskId: task.taskId } });

    const mine = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tasks/list', {})).result?.['tasks'] as Task[];
    expect(mine.map((t) => t.taskId)).toContain(task.taskId);
    const theirs = responseOf(await legacyRpc(urls[0] as string, BOB, 'tasks/list', {})).result?.['tasks'] as Task[];
    expect(theirs.map((t) => t.taskId)).not.toContain(task.taskId);
    for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
      expect(responseOf(await legacyRpc(urls[0] as string, BOB, method, { taskId: task.taskId })).error?.code).toBe(-32602);
    }
  });

  it('relays the task’s progress under its original token on tasks/result, then the status, then the result', async () => {
    const task = await startTask(urls[0] as string, ALICE, 'web-slow', { steps: 5, delayMs: 100 }, { _meta: { progressToken: 'orig' } });
    const messages = await legacyRpc(urls[1] as string, ALICE, 'tasks/result', { taskId: task.taskId });
    expect(progressOf(messages).map((p) => [p.progress, p.progressToken])).toEqual([1, 2, 3, 4, 5].map((n) => [n, 'orig']));
    const status = messages.find((m) => m['method'] === 'notifications/tasks/status')?.['params'] as Task | undefined;
    expect(status).toMatchObject({ taskId: task.taskId, status: 'completed' });
    expect(messages.indexOf(messages.find((m) => m['method'] === 'notifications/tasks/status') as never)).toBe(messages.length - 2);
    expect(responseOf(messages).result?.['content']).toEqual([{ type: 'text', text: 'done after 5 steps' }]);
  });

  it('ends a job whose result is larger than the bus carries as failed, at once', async () => {
    const blocking = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tools/call', { name: 'jobs-big', arguments: { bytes: 2_000_000 } }));
    expect(blocking.error?.code).toBe(-32600);
    expect(blocking.error?.message).toContain('more than the bus carries');
    const task = await startTask(urls[0] as string, ALICE, 'web-big', { bytes: 2_000_000 });
    expect(await untilEnded(urls[0] as string, ALICE, task.taskId)).toMatchObject({ status: 'failed' });
  });

  it('ends a task whose tool returned isError as failed, with the result kept', async () => {
    const task = await startTask(urls[0] as string, ALICE, 'web-fail', { message: 'nope' });
    expect((await untilEnded(urls[0] as string, ALICE, task.taskId)).status).toBe('failed');
    const listed = (responseOf(await legacyRpc(urls[0] as string, ALICE, 'tasks/list', {})).result?.['tasks'] as Task[]).find((t) => t.taskId === task.taskId);
    expect(listed?.status).toBe('failed');
    const payload = responseOf(await legacyRpc(urls[0] as string, ALICE, 'tasks/result', { taskId: task.taskId })).result;
    expect(payload?.['isError']).toBe(true);
  });
});

describe('cancellation', () => {
  it('tasks/cancel on another replica stops a call whose stream is open elsewhere; the upstream is told', async () => {
    const before = await slowStats();
    const call = legacyRpc(urls[0] as string, ALICE, 'tools/call', { name: 'jobs-slow', arguments: { steps: 100, delayMs: 100 } });
    const running = await runningTask();
    const cancelled = responseOf(await legacyRpc(urls[1] as string, ALICE, 'tasks/cancel', { taskId: running.taskId })).result as Task;
    expect(cancelled.status).toBe('cancelled');
    const response = responseOf(await call);
    expect(response.error?.code).toBe(-32800);
    expect((await taskOf(urls[0] as string, ALICE, running.taskId)).status).toBe('cancelled');
    expect(responseOf(await legacyRpc(urls[0] as string, ALICE, 'tasks/cancel', { taskId: running.taskId })).error?.code).toBe(-32602);
    await eventually(async () => {
      const now = await slowStats();
      if (now.cancelled === before.cancelled) throw new Error('upstream not cancelled yet');
    }, { timeoutMs: 5_000 });
  });

  it.each(['v2-legacy', 'v1'] as const)('a stateless 2025 client’s notifications/cancelled (%s) cancels the job, from any replica', async (kind) => {
    const before = await slowStats();
    // Requests alternate between the replicas: the cancel may land where the call does not wait.
    const client = await connectClient(kind, urls[0] as string, ALICE, { fetch: alternatingFetch(urls) });
    try {
      await expectCancelledAfterProgress(before, (signal, onprogress) => client.callTool('jobs-slow', { steps: 100, delayMs: 50 }, { signal, onprogress }));
    } finally {
      await client.close();
    }
  });

  it('a legacy SSE client’s notifications/cancelled cancels the job', async () => {
    const before = await slowStats();
    const client = new V1Client({ name: 'sse-job-test', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(`${new URL(urls[0] as string).origin}/sse`), { fetch: withKey('alice') }));
    try {
      await expectCancelledAfterProgress(before, (signal, onprogress) => client.callTool({ name: 'jobs-slow', arguments: { steps: 100, delayMs: 50 } }, undefined, { signal, onprogress }));
    } finally {
      await client.close();
    }
  });

  it('a 2026 client closing its response stream cancels the job', async () => {
    const before = await slowStats();
    const abort = new AbortController();
    const call = modernRpc(urls[0] as string, ALICE, 'tools/call', { name: 'jobs-slow', arguments: { steps: 100, delayMs: 100 } }, { name: 'jobs-slow', signal: abort.signal }).catch(() => undefined);
    const running = await runningTask();
    abort.abort();
    await call;
    expect((await untilEnded(urls[1] as string, ALICE, running.taskId)).status).toBe('cancelled');
    await eventually(async () => {
      if ((await slowStats()).cancelled === before.cancelled) throw new Error('upstream not cancelled yet');
    }, { timeoutMs: 5_000 });
  });

  it('a 2025 client that drops its connection does not cancel: the job completes and its result is kept', async () => {
    const abort = new AbortController();
    const call = legacyRpc(urls[0] as string, ALICE, 'tools/call', { name: 'jobs-slow', arguments: { steps: 4, delayMs: 150 } }, { signal: abort.signal }).catch(() => undefined);
    const running = await runningTask();
    abort.abort();
    await call;
    expect((await untilEnded(urls[1] as string, ALICE, running.taskId)).status).toBe('completed');
    const view = (await (await fetch(`${new URL(urls[1] as string).origin}/v1/calls/${running.taskId}`, { headers: ALICE })).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ id: running.taskId, status: 'completed', tool: 'jobs-slow', progress: { progress: 4, total: 4 }, result: { content: [{ type: 'text', text: 'done after 4 steps' }] } });

    // The BullMQ job itself keeps the last progress and the result, for as long as the task.
    const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    const queue = new Queue(CALL_QUEUE, { connection: redis, prefix: jobKeys(gateway.config.settings.subjectRoot).bullPrefix });
    try {
      const job = await Job.fromId(queue, running.taskId);
      expect(job?.progress).toEqual({ progress: 4, total: 4, message: 'step 4/4' });
      expect(job?.returnvalue).toEqual({ content: [{ type: 'text', text: 'done after 4 steps' }] });
      expect(job?.opts.removeOnComplete).toEqual({ age: 3600 });
    } finally {
      await queue.close();
      await redis.quit();
    }
  });
});

describe('2026-07-28 Tasks extension', () => {
  it('answers a job call with a task when the client declared the extension, and a result otherwise', async () => {
    const plain = responseOf(await modernRpc(urls[0] as string, ALICE, 'tools/call', { name: 'web-echo', arguments: { text: 'inline' } }, { name: 'web-echo', tasks: true })).result;
    expect(plain?.['content']).toEqual([{ type: 'text', text: 'inline' }]);
    const created = responseOf(await modernRpc(urls[0] as string, ALICE, 'tools/call', { name: 'jobs-echo', arguments: { text: 'job' } }, { name: 'jobs-echo', tasks: true })).result;
    expect(created).toMatchObject({ resultType: 'task', status: 'working', ttlMs: 3_600_000, pollIntervalMs: 200 });
    const taskId = created?.['taskId'] as string;
    const ended = await eventually(async () => {
      const got = responseOf(await modernRpc(urls[1] as string, ALICE, 'tasks/get', { taskId }, { name: taskId, tasks: true })).result;
      if (got?.['status'] === 'working') throw new Error('still working');
      return got;
    }, { timeoutMs: 10_000 });
    expect(ended).toMatchObject({ taskId, status: 'completed', result: { content: [{ type: 'text', text: 'job' }], resultType: 'complete' } });
    // A finished task is acknowledged, not refused; another caller's is unknown.
    expect(responseOf(await modernRpc(urls[0] as string, ALICE, 'tasks/cancel', { taskId }, { name: taskId, tasks: true })).result).toBeDefined();
    expect(responseOf(await modernRpc(urls[0] as string, BOB, 'tasks/get', { taskId }, { name: taskId, tasks: true })).error?.code).toBe(-32602);
    // Nothing is waiting for input: tasks/update is acknowledged, and refused for a task that is not the caller's.
    expect(responseOf(await modernRpc(urls[0] as string, ALICE, 'tasks/update', { taskId, inputResponses: {} }, { name: taskId, tasks: true })).result).toBeDefined();
    expect(responseOf(await modernRpc(urls[0] as string, BOB, 'tasks/update', { taskId, inputResponses: {} }, { name: taskId, tasks: true })).error?.code).toBe(-32602);
  });

  it('a job call without the extension blocks and relays progress', async () => {
    const messages = await modernRpc(urls[1] as string, ALICE, 'tools/call', { name: 'jobs-slow', arguments: { steps: 3, delayMs: 0 }, _meta: { progressToken: 'm1' } }, { name: 'jobs-slow' });
    expect(progressOf(messages).map((p) => p.progress)).toEqual([1, 2, 3]);
    expect(responseOf(messages).result?.['content']).toEqual([{ type: 'text', text: 'done after 3 steps' }]);
  });

  it('tasks/cancel stops a running task', async () => {
    const created = responseOf(await modernRpc(urls[0] as string, ALICE, 'tools/call', { name: 'jobs-slow', arguments: { steps: 100, delayMs: 100 } }, { name: 'jobs-slow', tasks: true })).result;
    const taskId = created?.['taskId'] as string;
    await modernRpc(urls[1] as string, ALICE, 'tasks/cancel', { taskId }, { name: taskId, tasks: true });
    const got = responseOf(await modernRpc(urls[1] as string, ALICE, 'tasks/get', { taskId }, { name: taskId, tasks: true })).result;
    expect(got?.['status']).toBe('cancelled');
  });
});

describe('GET /v1/calls/{id}', () => {
  it('streams progress and the end over SSE, to the caller only', async () => {
    const task = await startTask(urls[0] as string, ALICE, 'web-slow', { steps: 3, delayMs: 100 });
    const origin = new URL(urls[1] as string).origin;
    expect((await fetch(`${origin}/v1/calls/${task.taskId}`, { headers: BOB })).status).toBe(404);
    expect((await fetch(`${origin}/v1/calls/${task.taskId}/events`, { headers: BOB })).status).toBe(404);
    const res = await fetch(`${origin}/v1/calls/${task.taskId}/events`, { headers: ALICE });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = (await res.text())
      .split('\n\n')
      .filter((block) => block.startsWith('event: '))
      .map((block) => {
        const [event, data] = block.split('\n');
        return { event: event?.slice('event: '.length), data: JSON.parse(data?.slice('data: '.length) ?? 'null') as Record<string, unknown> };
      });
    expect(events[0]?.event).toBe('status');
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data['progress']);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(3);
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'completed', result: { content: [{ type: 'text', text: 'done after 3 steps' }] } } });
  });
});
