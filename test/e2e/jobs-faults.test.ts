import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { startGateway, type GatewayOptions, type TestGateway } from '../harness/gateway.js';
import { cli, writeConfig, type CliProcess } from '../harness/processes.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';
import { eventually, freePort } from '../harness/wait.js';

const KEY = { Authorization: 'Bearer faults' };

let http: FixtureHttpHandle;
let options: GatewayOptions;
let gateway: TestGateway | undefined;
const runners: CliProcess[] = [];

type Task = { taskId: string; status: string; statusMessage?: string };

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  options = {
    // `fragile-slow` may not run twice (config says so); `sturdy-slow` may (its read-only annotation).
    servers: { fragile: { url: http.url, tools: { slow: { idempotent: false } } }, sturdy: { url: http.url } },
    masterKey: null,
    // No runner of the gateway's own: each test starts the runner processes that take its jobs.
    runners: 0,
    // A short lock, so a killed runner's job is noticed (stalled) within a couple of seconds.
    settings: { subject_root: `t${randomBytes(6).toString('hex')}`, job_lock_ms: 1_000, job_backoff_ms: 100, task_poll_interval_ms: 200 },
  };
  gateway = await startGateway(options);
});

afterAll(async () => {
  for (const runner of runners) runner.kill('SIGKILL');
  await gateway?.close();
  await http?.close();
});

/** A runner in its own process, on the gateway's subject root, ready for jobs. */
async function startRunnerProcess(settings: Record<string, unknown> = {}): Promise<CliProcess> {
  const config = writeConfig({ mcp_servers: options.servers, mcpbus_settings: { ...options.settings, ...settings } });
  const runner = cli(['start', '--role', 'runner', '--config', config]);
  runners.push(runner);
  await eventually(() => (runner.output().includes('runner ready') ? Promise.resolve() : Promise.reject(new Error(`runner not ready: ${runner.output()}`))), { timeoutMs: 20_000 });
  return runner;
}

async function stopRunners(): Promise<void> {
  for (const runner of runners) runner.kill('SIGTERM');
  await Promise.all(runners.map((r) => r.exited));
  runners.length = 0;
}

function url(): string {
  if (gateway === undefined) throw new Error('no gateway');
  return gateway.url;
}

async function startTask(name: string, args: Record<string, unknown>): Promise<Task> {
  const response = responseOf(await legacyRpc(url(), KEY, 'tools/call', { name, arguments: args, task: { ttl: 120_000 } }));
  return response.result?.['task'] as Task;
}

async function taskOf(taskId: string): Promise<Task & { progress?: unknown }> {
  return responseOf(await legacyRpc(url(), KEY, 'tasks/get', { taskId })).result as never;
}

async function stats(): Promise<{ started: number; finished: number }> {
  const result = responseOf(await legacyRpc(url(), KEY, 'tools/call', { name: 'sturdy-slow_stats', arguments: {} })).result;
  return JSON.parse((result?.['content'] as { text: string }[])[0]?.text ?? '{}') as never;
}

describe('a runner killed mid-call', () => {
  it('does not run a non-idempotent call again (it ends outcome unknown) and retries an idempotent one', async () => {
    const first = await startRunnerProcess();
    const before = await stats();
    const fragile = await startTask('fragile-slow', { steps: 20, delayMs: 100 });
    const sturdy = await startTask('sturdy-slow', { steps: 20, delayMs: 100 });
    // Both calls are running upstream before the runner dies.
    await eventually(async () => {
      if ((await stats()).started - before.started < 2) throw new Error('not both started yet');
    });
    first.kill('SIGKILL');
    await first.exited;

    await startRunnerProcess();
    const ended = async (taskId: string): Promise<Task> =>
      eventually(async () => {
        const task = await taskOf(taskId);
        if (task.status === 'working') throw new Error('still working');
        return task;
      }, { timeoutMs: 30_000 });

    const lost = await ended(fragile.taskId);
    expect(lost.status).toBe('failed');
    expect(lost.statusMessage).toMatch(/^Outcome unknown: the runner running fragile-slow stopped mid-call/);
    const error = responseOf(await legacyRpc(url(), KEY, 'tasks/result', { taskId: fragile.taskId })).error;
    expect(error?.code).toBe(-32013);
    expect(error?.message).toContain('not marked idempotent');

    const retried = await ended(sturdy.taskId);
    expect(retried.status).toBe('completed');
    const payload = responseOf(await legacyRpc(url(), KEY, 'tasks/result', { taskId: sturdy.taskId })).result;
    expect(payload?.['content']).toEqual([{ type: 'text', text: 'done after 20 steps' }]);
    // Two starts before the kill, one more for the retried call, none for the other.
    expect((await stats()).started - before.started).toBe(3);
  });
});

describe('a runner told to stop', () => {
  it('waits drain_timeout_ms for a running job, then leaves it to another runner without ending it', async () => {
    // This runner alone must take the job.
    await stopRunners();
    const runner = await startRunnerProcess({ drain_timeout_ms: 500 });
    const before = await stats();
    const task = await startTask('fragile-slow', { steps: 30, delayMs: 100 });
    await eventually(async () => {
      if ((await stats()).started === before.started) throw new Error('not started yet');
    });
    const stoppedAt = Date.now();
    runner.kill('SIGTERM');
    expect(await runner.exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    expect((await taskOf(task.taskId)).status).toBe('working');

    await startRunnerProcess();
    const ended = await eventually(async () => {
      const now = await taskOf(task.taskId);
      if (now.status === 'working') throw new Error('still working');
      return now;
    }, { timeoutMs: 30_000 });
    expect(ended.status).toBe('failed');
    expect(ended.statusMessage).toMatch(/^Outcome unknown/);
  });
});

describe('retries', () => {
  it('retries a retriable job after a transient upstream failure, with backoff, and never a non-retriable one', async () => {
    const port = await freePort();
    let upstream: FixtureHttpHandle | undefined = await startFixtureHttp({ port });
    const flaky = await startGateway({
      servers: { late: { url: `http://127.0.0.1:${port}/mcp`, tools: { echo: { idempotent: true }, slow: { idempotent: false } } } },
      masterKey: null,
      runners: 1,
      settings: { subject_root: `t${randomBytes(6).toString('hex')}`, job_max_attempts: 8, job_backoff_ms: 100 },
    });
    try {
      const rpc = (method: string, params: Record<string, unknown>) => legacyRpc(flaky.url, KEY, method, params);
      const ended = (taskId: string) =>
        eventually(async () => {
          const task = responseOf(await rpc('tasks/get', { taskId })).result as Task;
          if (task.status === 'working') throw new Error('still working');
          return task;
        }, { timeoutMs: 20_000 });
      // The worker learns the tools while the upstream is up (calls are validated against them)…
      await eventually(async () => {
        const tools = responseOf(await rpc('tools/list', {})).result?.['tools'] as { name: string }[];
        if (!tools.some((t) => t.name === 'late-echo')) throw new Error('not listed yet');
      });
      // …then it goes away: every attempt fails until it is back.
      await upstream.close();
      upstream = undefined;
      const retried = responseOf(await rpc('tools/call', { name: 'late-echo', arguments: { text: 'eventually' }, task: {} })).result?.['task'] as Task;
      const once = responseOf(await rpc('tools/call', { name: 'late-slow', arguments: { steps: 1, delayMs: 0 }, task: {} })).result?.['task'] as Task;

      const failed = await ended(once.taskId);
      expect(failed.status).toBe('failed');
      expect(failed.statusMessage).toContain('upstream server "late" is unavailable');
      expect(responseOf(await rpc('tasks/get', { taskId: retried.taskId })).result?.['status']).toBe('working');

      upstream = await startFixtureHttp({ port });
      expect(await ended(retried.taskId)).toMatchObject({ status: 'completed' });
      expect(responseOf(await rpc('tasks/result', { taskId: retried.taskId })).result?.['content']).toEqual([{ type: 'text', text: 'eventually' }]);
    } finally {
      await upstream?.close();
      await flaky.close();
    }
  });
});

describe('task state in Redis', () => {
  it('answers tasks/get after every mcpbus process has restarted', async () => {
    const task = await startTask('sturdy-echo', { text: 'kept' });
    await eventually(async () => {
      if ((await taskOf(task.taskId)).status !== 'completed') throw new Error('not done yet');
    }, { timeoutMs: 20_000 });
    await stopRunners();
    await gateway?.close({ keepStream: true });

    gateway = await startGateway(options);
    expect(await taskOf(task.taskId)).toMatchObject({ taskId: task.taskId, status: 'completed' });
    const payload = responseOf(await legacyRpc(url(), KEY, 'tasks/result', { taskId: task.taskId })).result;
    expect(payload?.['content']).toEqual([{ type: 'text', text: 'kept' }]);
  });
});
