import { messagesOf } from './raw-mcp.js';

/**
 * A load generator for fault tests: N callers, each making one call after another, and a record
 * of what became of every call. A call ends in exactly one of:
 *
 * - `ok`: the right answer, within its deadline;
 * - `error`: a clear error within its deadline: a JSON-RPC error (code and message) or an HTTP
 *   status with a message;
 * - `cut`: the connection broke while the answer was being streamed (what a client of a proxy
 *   sees when the replica serving it dies): a definite failure, at once, but not a message;
 * - `lost`: no answer by its deadline plus a margin, or a wrong answer.
 */
export type CallStatus = 'ok' | 'error' | 'cut' | 'lost';

/** `progressMissing`: a right answer whose progress updates came in order but not all of them. */
export type Outcome = { status: 'ok'; progressMissing?: number } | { status: 'error'; code: string; message: string } | { status: 'cut'; message: string } | { status: 'lost'; message: string };

export interface CallSpec {
  /** What kind of call this is, for the report (e.g. `inline`, `job`, `task`). */
  label: string;
  /** What identifies the call upstream (the ledger's key), if anything. */
  key?: string;
  /** By when the system promises an answer (a result or a clear error). */
  deadlineMs: number;
  run(signal: AbortSignal): Promise<Outcome>;
}

export interface CallRecord {
  label: string;
  key?: string;
  caller: number;
  startedAt: number;
  endedAt: number;
  status: CallStatus;
  code?: string;
  message?: string;
  /** Progress updates that never arrived (the answer itself was right). */
  progressMissing?: number;
}

export interface LoadOptions {
  concurrency: number;
  /** The next call of caller `caller` (its `n`-th). */
  next(caller: number, n: number): CallSpec;
  /** Slack beyond a call's deadline before it counts as lost (default 5 s). */
  marginMs?: number;
}

export interface Load {
  readonly records: readonly CallRecord[];
  /** Resolves once `count` more calls have ended (from now). */
  ended(count: number, timeoutMs?: number): Promise<void>;
  /** Resolves once `holds` is true of the records (checked as each call ends). */
  until(holds: (records: readonly CallRecord[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Stops starting calls and waits for those in flight (each bounded by its deadline). */
  stop(): Promise<CallRecord[]>;
}

/** Runs one call, bounded by its deadline plus `marginMs`, and records what became of it. */
export async function runCall(spec: CallSpec, caller: number, marginMs: number): Promise<CallRecord> {
  const startedAt = Date.now();
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve({ status: 'lost', message: `no answer within ${spec.deadlineMs} + ${marginMs} ms` });
    }, spec.deadlineMs + marginMs);
  });
  const outcome = await Promise.race([spec.run(abort.signal).catch((err: unknown): Outcome => ({ status: 'cut', message: describe(err) })), limit]);
  clearTimeout(timer);
  const record: CallRecord = { label: spec.label, caller, startedAt, endedAt: Date.now(), status: outcome.status, ...(spec.key === undefined ? {} : { key: spec.key }) };
  if (outcome.status === 'error') record.code = outcome.code;
  if (outcome.status !== 'ok') record.message = outcome.message;
  if (outcome.status === 'ok' && (outcome.progressMissing ?? 0) > 0) record.progressMissing = outcome.progressMissing;
  return record;
}

/** Runs every call at once, each once. */
export function runCalls(specs: readonly CallSpec[], marginMs = 5_000): Promise<CallRecord[]> {
  return Promise.all(specs.map((spec, i) => runCall(spec, i, marginMs)));
}

export function startLoad(options: LoadOptions): Load {
  const marginMs = options.marginMs ?? 5_000;
  const records: CallRecord[] = [];
  const waiters = new Set<{ holds: (records: readonly CallRecord[]) => boolean; resolve: () => void }>();
  let stopped = false;

  const loops = Array.from({ length: options.concurrency }, async (_, caller) => {
    for (let n = 0; !stopped; n += 1) {
      records.push(await runCall(options.next(caller, n), caller, marginMs));
      for (const waiter of waiters) if (waiter.holds(records)) waiter.resolve();
    }
  });

  const until = (holds: (records: readonly CallRecord[]) => boolean, timeoutMs = 60_000, what = 'the condition'): Promise<void> => {
    if (holds(records)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        holds,
        resolve: () => {
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`${what} did not come true within ${timeoutMs} ms (${records.length} calls ended)`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  };

  return {
    records,
    ended(count, timeoutMs = 60_000) {
      const target = records.length + count;
      return until((r) => r.length >= target, timeoutMs, `${count} more calls ending`);
    },
    until: (holds, timeoutMs) => until(holds, timeoutMs),
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return [...records];
    },
  };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

export interface LoadReport {
  attempted: number;
  ok: number;
  error: number;
  cut: number;
  lost: number;
  /** Clear errors by code (JSON-RPC code or HTTP status). */
  errorsByCode: Record<string, number>;
  /**
   * From the fault until calls started after it succeed again for good: the start of the first
   * successful call after the last failed one started (0 when nothing failed, or only calls
   * already in flight at the fault did).
   */
  recoveryMs: number;
  /** From the fault until the last failed call ended (0 when none failed). */
  failuresUntilMs: number;
  /** Successful calls that missed some progress updates (in order, but not all arrived). */
  progressGaps: number;
  /** The records that were not `ok` (lost and cut first), at most 10, for failure messages. */
  sample: CallRecord[];
}

export function reportOf(records: readonly CallRecord[], faultAt: number): LoadReport {
  const bad = records.filter((r) => r.status !== 'ok');
  const errorsByCode: Record<string, number> = {};
  for (const r of bad) if (r.status === 'error') errorsByCode[r.code ?? '?'] = (errorsByCode[r.code ?? '?'] ?? 0) + 1;
  let recoveryMs = 0;
  if (bad.length > 0) {
    const lastBadStart = Math.max(...bad.map((r) => r.startedAt));
    const goodAfter = records.filter((r) => r.status === 'ok' && r.startedAt > lastBadStart).map((r) => r.startedAt);
    const back = goodAfter.length > 0 ? Math.min(...goodAfter) : lastBadStart;
    recoveryMs = Math.max(0, back - faultAt);
  }
  return {
    attempted: records.length,
    ok: records.filter((r) => r.status === 'ok').length,
    error: records.filter((r) => r.status === 'error').length,
    cut: records.filter((r) => r.status === 'cut').length,
    lost: records.filter((r) => r.status === 'lost').length,
    errorsByCode,
    recoveryMs,
    failuresUntilMs: bad.length === 0 ? 0 : Math.max(0, Math.max(...bad.map((r) => r.endedAt)) - faultAt),
    progressGaps: records.filter((r) => (r.progressMissing ?? 0) > 0).length,
    sample: [...bad.filter((r) => r.status !== 'error'), ...bad.filter((r) => r.status === 'error')].slice(0, 10),
  };
}

/**
 * Whether `label` calls succeed again: `count` of them started after the fault and after the
 * last failure of that label, and all succeeded.
 */
export function succeedingAgain(records: readonly CallRecord[], faultAt: number, count: number, label?: string): boolean {
  const mine = records.filter((r) => label === undefined || r.label === label);
  const lastBad = Math.max(faultAt, ...mine.filter((r) => r.status !== 'ok').map((r) => r.startedAt));
  return mine.filter((r) => r.status === 'ok' && r.startedAt > lastBad).length >= count;
}

/** One line per scenario, for the test output and docs/reliability.md. */
export function summaryLine(scenario: string, report: LoadReport, extra: Record<string, string | number> = {}): string {
  const codes = Object.entries(report.errorsByCode).map(([code, n]) => `${code}×${n}`).join(' ');
  const more = Object.entries(extra).map(([k, v]) => ` ${k}=${v}`).join('');
  return `[reliability] ${scenario}: attempted=${report.attempted} ok=${report.ok} clear-errors=${report.error}${codes === '' ? '' : ` (${codes})`} cut=${report.cut} lost=${report.lost}${report.progressGaps > 0 ? ` progress-gaps=${report.progressGaps}` : ''} recovery=${(report.recoveryMs / 1000).toFixed(1)}s failures-until=${(report.failuresUntilMs / 1000).toFixed(1)}s${more}`;
}

// ---- Raw MCP calls, light enough to run many at once, judged by what came back -----------------

export interface Target {
  url: string;
  headers: Readonly<Record<string, string>>;
}

let nextId = 1;

export interface RpcReply {
  status: number;
  /** JSON-RPC messages of the answer (SSE events or one JSON body), in order. */
  messages: Record<string, unknown>[];
  /** The body, when it was not JSON-RPC. */
  text: string;
}

/** POSTs one JSON-RPC request, 2025-era by default or 2026-07-28 (`_meta` envelope, Mcp-Method). */
export async function postRpc(target: Target, method: string, params: Record<string, unknown>, options: { modern?: boolean; name?: string; tasks?: boolean; signal?: AbortSignal } = {}): Promise<RpcReply> {
  const id = nextId++;
  const headers: Record<string, string> = { ...target.headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
  let body = params;
  if (options.modern === true) {
    headers['MCP-Protocol-Version'] = '2026-07-28';
    headers['Mcp-Method'] = method;
    if (options.name !== undefined) headers['Mcp-Name'] = options.name;
    const meta = {
      ...((params['_meta'] as Record<string, unknown> | undefined) ?? {}),
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'mcpbus-load', version: '1.0.0' },
      'io.modelcontextprotocol/clientCapabilities': options.tasks === true ? { extensions: { 'io.modelcontextprotocol/tasks': {} } } : {},
    };
    body = { ...params, _meta: meta };
  } else {
    headers['MCP-Protocol-Version'] = '2025-11-25';
  }
  const res = await fetch(target.url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id, method, params: body }), ...(options.signal === undefined ? {} : { signal: options.signal }) });
  const text = await res.text();
  let messages: Record<string, unknown>[] = [];
  try {
    messages = messagesOf(res.headers.get('content-type'), text);
  } catch {
    // Not JSON-RPC (an HTTP error page, an empty body): judged by status and text.
  }
  return { status: res.status, messages, text };
}

export interface ToolReply {
  reply: RpcReply;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
  /** `progress` values of the progress notifications, in arrival order. */
  progress: number[];
}

export function toolReplyOf(reply: RpcReply): ToolReply {
  const last = reply.messages.filter((m) => 'result' in m || 'error' in m).at(-1) as { result?: Record<string, unknown>; error?: { code: number; message: string } } | undefined;
  const progress = reply.messages.filter((m) => m['method'] === 'notifications/progress').map((m) => (m['params'] as { progress: number }).progress);
  return { reply, progress, ...(last?.result === undefined ? {} : { result: last.result }), ...(last?.error === undefined ? {} : { error: last.error }) };
}

export function textOfResult(result: Record<string, unknown> | undefined): string {
  const content = (result?.['content'] ?? []) as { text?: string }[];
  return content.map((c) => c.text ?? '').join('');
}

/**
 * Judges a tool call's answer: the expected text (and, when `steps` is given, progress updates
 * rising from 1 to at most `steps`, never out of order or repeated) is `ok`, noting updates that
 * never came; a JSON-RPC error or an HTTP error with a message is a clear `error`; anything else
 * (another text, a result without the text, progress out of order) is `lost`.
 */
export function judge(reply: ToolReply, expected: string, steps?: number): Outcome {
  const { result, error } = reply;
  if (error !== undefined) {
    if (typeof error.message === 'string' && error.message !== '') return { status: 'error', code: String(error.code), message: error.message };
    return { status: 'lost', message: `an error without a message: ${JSON.stringify(error)}` };
  }
  if (result === undefined) {
    if (reply.reply.status >= 400 && reply.reply.text.trim() !== '') return { status: 'error', code: `HTTP ${reply.reply.status}`, message: reply.reply.text.slice(0, 300) };
    return { status: 'lost', message: `no result (HTTP ${reply.reply.status}): ${reply.reply.text.slice(0, 300)}` };
  }
  const text = textOfResult(result);
  if (result['isError'] === true) return { status: 'error', code: 'isError', message: text };
  if (text !== expected) return { status: 'lost', message: `wrong answer: expected ${JSON.stringify(expected)}, got ${JSON.stringify(text.slice(0, 200))}` };
  if (steps !== undefined) {
    const rising = reply.progress.every((p, i) => Number.isInteger(p) && p >= 1 && p <= steps && (i === 0 || p > (reply.progress[i - 1] as number)));
    if (!rising) return { status: 'lost', message: `progress ${JSON.stringify(reply.progress)}: out of order, repeated or beyond 1…${steps}` };
    if (reply.progress.length < steps) return { status: 'ok', progressMissing: steps - reply.progress.length };
  }
  return { status: 'ok' };
}

/** A `tools/call`, 2025-era unless `modern`; with `progress`, a progress token asks for progress. */
export async function callTool(target: Target, name: string, args: Record<string, unknown>, options: { progress?: boolean; modern?: boolean; signal?: AbortSignal } = {}): Promise<ToolReply> {
  const params: Record<string, unknown> = { name, arguments: args };
  if (options.progress === true) params['_meta'] = { progressToken: `p-${nextId}` };
  return toolReplyOf(await postRpc(target, 'tools/call', params, { name, ...options }));
}

/**
 * A 2025-11-25 task: `tools/call` with `task`, then `tasks/result` until it answers. An answer
 * that breaks off is asked for again (the task id makes that safe), as a client would. Resolves
 * with the task id (once acknowledged) and the final reply.
 */
export async function runTask(target: Target, name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<{ taskId?: string; reply: ToolReply; retries: number }> {
  const created = toolReplyOf(await postRpc(target, 'tools/call', { name, arguments: args, task: { ttl: 600_000 } }, { signal }));
  const taskId = (created.result?.['task'] as { taskId?: string } | undefined)?.taskId;
  if (taskId === undefined) return { reply: created, retries: 0 };
  for (let retries = 0; ; retries += 1) {
    try {
      const reply = toolReplyOf(await postRpc(target, 'tasks/result', { taskId }, { signal }));
      // A replica that went away answers through the proxy as 502: ask again.
      if (reply.reply.status !== 502 || signal.aborted) return { taskId, reply, retries };
    } catch (err: unknown) {
      if (signal.aborted) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
