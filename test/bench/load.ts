import { Agent, request } from 'node:http';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

/** One call against a target; rejects when the call failed (transport, JSON-RPC or tool error). */
export type Caller = () => Promise<void>;

/** Where calls go: an `/mcp` URL, the headers it needs and the exposed name of the echo tool. */
export interface Target {
  label: string;
  url: string;
  headers: Record<string, string>;
  echoTool: string;
  slowTool: string;
}

const ECHO_TEXT = 'mcpbus bench';

export async function connectSdkClient(target: Target): Promise<Client> {
  const client = new Client({ name: 'mcpbus-bench', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(target.url), { requestInit: { headers: target.headers } }));
  return client;
}

/** `n` SDK clients for one target; the global fetch pool gives them as many connections as they need. */
export async function connectSdkPool(target: Target, n: number): Promise<{ clients: Client[]; close(): Promise<void> }> {
  const clients: Client[] = [];
  try {
    for (let i = 0; i < n; i += 1) clients.push(await connectSdkClient(target));
  } catch (err: unknown) {
    await Promise.allSettled(clients.map((c) => c.close()));
    throw err;
  }
  return {
    clients,
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
    },
  };
}

export function sdkEchoCaller(client: Client, target: Target): Caller {
  return async () => {
    const result = await client.callTool({ name: target.echoTool, arguments: { text: ECHO_TEXT } });
    if (result.isError === true) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
  };
}

/**
 * Raw JSON-RPC `tools/call` POSTs over keep-alive `node:http` sockets, with no MCP client in
 * the way: stateless 2025-era requests without initialize, which both the fixture and mcpbus
 * serve. Lighter than the SDK client, so the load generator steals less CPU from the servers.
 */
export function rawEchoCallers(target: Target, sockets: number): { callers: Caller[]; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const url = new URL(target.url);
  let nextId = 1;
  const call: Caller = () =>
    new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: target.echoTool, arguments: { text: ECHO_TEXT } } });
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json, text/event-stream',
            'Content-Length': Buffer.byteLength(body),
            ...target.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            // Both servers answer with one SSE `message` event (or plain JSON); a result holding
            // the echoed text is a success, anything else (JSON-RPC error, isError) is not.
            if (res.statusCode === 200 && text.includes('"result"') && text.includes(ECHO_TEXT) && !text.includes('"isError":true')) resolve();
            else reject(new Error(`HTTP ${res.statusCode ?? 0}: ${text.slice(0, 200)}`));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return { callers: Array.from({ length: sockets }, () => call), close: () => agent.destroy() };
}

export interface OpenLoopResult {
  /** Completion time minus scheduled send time, ms, for calls scheduled after the warm-up. */
  latenciesMs: number[];
  /** Actual send time minus scheduled send time, ms: how late the load generator itself was. */
  sendLagMs: number[];
  errors: number;
  firstError: string | undefined;
  /** Calls scheduled per second over the measured window, as sent. */
  sentPerSecond: number;
}

export interface OpenLoopOptions {
  ratePerSecond: number;
  durationMs: number;
  warmupMs: number;
}

/**
 * Open-loop load: call `i` is due at `start + i / rate`, whatever happened to earlier calls,
 * and its latency is measured from that due time, so a stall shows up in every call it delays
 * (no coordinated omission). Calls go round-robin over the callers.
 */
export async function openLoop(callers: readonly Caller[], options: OpenLoopOptions): Promise<OpenLoopResult> {
  const intervalMs = 1000 / options.ratePerSecond;
  const total = Math.round(((options.warmupMs + options.durationMs) / 1000) * options.ratePerSecond);
  const warmupCalls = Math.round((options.warmupMs / 1000) * options.ratePerSecond);
  const latenciesMs: number[] = [];
  const sendLagMs: number[] = [];
  const pending: Promise<void>[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now() + 5;
  let i = 0;
  while (i < total) {
    const now = performance.now();
    for (; i < total && start + i * intervalMs <= now; i += 1) {
      const due = start + i * intervalMs;
      const measured = i >= warmupCalls;
      const caller = callers[i % callers.length] as Caller;
      if (measured) sendLagMs.push(performance.now() - due);
      pending.push(
        caller().then(
          () => {
            if (measured) latenciesMs.push(performance.now() - due);
          },
          (err: unknown) => {
            if (!measured) return;
            errors += 1;
            firstError ??= err instanceof Error ? err.message : String(err);
          },
        ),
      );
    }
    const wait = start + i * intervalMs - performance.now();
    // setTimeout's 1 ms floor makes sends up to ~1 ms late; that lag counts as latency (see sendLagMs).
    if (i < total) await new Promise((r) => setTimeout(r, Math.max(0, Math.floor(wait))));
  }
  await Promise.all(pending);
  return { latenciesMs, sendLagMs, errors, firstError, sentPerSecond: ((total - warmupCalls) * 1000) / options.durationMs };
}

export interface ClosedLoopResult {
  calls: number;
  errors: number;
  firstError: string | undefined;
  callsPerSecond: number;
}

/**
 * Closed-loop load: `concurrency` loops, each sending its next call as soon as the previous one
 * finished, for `durationMs` (after `warmupMs` of the same load that is not counted).
 */
export async function closedLoop(callers: readonly Caller[], concurrency: number, durationMs: number, warmupMs: number): Promise<ClosedLoopResult> {
  const startedAt = performance.now();
  const measureFrom = startedAt + warmupMs;
  const endAt = measureFrom + durationMs;
  let calls = 0;
  let errors = 0;
  let firstError: string | undefined;
  // Completions inside the window count, whenever their call was sent.
  const inWindow = (at: number): boolean => at >= measureFrom && at <= endAt;
  const loop = async (caller: Caller): Promise<void> => {
    while (performance.now() < endAt) {
      try {
        await caller();
        if (inWindow(performance.now())) calls += 1;
      } catch (err: unknown) {
        if (!inWindow(performance.now())) continue;
        errors += 1;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(callers[i % callers.length] as Caller)));
  return { calls, errors, firstError, callsPerSecond: (calls * 1000) / durationMs };
}
