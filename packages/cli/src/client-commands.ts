import { natsConnectOptions } from '@mcpbus/bus';
import { DEFAULT_NATS_URL } from '@mcpbus/config';
import { McpbusClientError, connect, type BusClient, type Progress } from '@mcpbus/client';
import { loadConfigOrReport } from '@mcpbus/runtime';

export interface ClientArgs {
  command: 'tools' | 'call' | 'submit';
  tool?: string;
  /** JSON object of arguments. */
  args?: string;
  /** Reads the subject root and master key from this config. */
  configPath?: string;
  key?: string;
  root?: string;
  callId?: string;
  wait: boolean;
  env: Record<string, string | undefined>;
}

const out = (text: string): void => void process.stdout.write(`${text}\n`);
const err = (text: string): void => void process.stderr.write(`${text}\n`);
const showProgress = (p: Progress): void => err(`progress ${p.progress}${p.total === undefined ? '' : `/${p.total}`}${p.message === undefined ? '' : `  ${p.message}`}`);

/** Says what went wrong in a way that tells the user what to do; the exit code. */
function report(failure: unknown, natsUrl: string, root: string): number {
  if (failure instanceof McpbusClientError) {
    if (failure.code === 'transport') err(`mcpbus: ${failure.message}\n  (NATS_URL=${natsUrl}; start mcpbus with "pnpm demo" or "pnpm mcpbus start --config FILE")`);
    else if (failure.code === 'no_workers') err(`mcpbus: no worker answers on subject root "${root}": is mcpbus running, and with that subject_root? (--config FILE or --root)`);
    else if (failure.code === 'unauthorized') err(`mcpbus: ${failure.message} (pass --key, set MCPBUS_API_KEY, or --config FILE to use its master key)`);
    else err(`mcpbus: ${failure.code}: ${failure.message}`);
    return 1;
  }
  err(`mcpbus: ${failure instanceof Error ? failure.message : String(failure)}`);
  return 1;
}

/**
 * `mcpbus tools`, `mcpbus call <tool> --args '{…}'` and `mcpbus submit <tool> --args '{…}'`:
 * the bus client against a running mcpbus, for people at a terminal.
 */
export async function clientCommand(a: ClientArgs): Promise<number> {
  // `mcpbus tools | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  const config = a.configPath === undefined ? undefined : await loadConfigOrReport(a.configPath, a.env);
  if (a.configPath !== undefined && config === undefined) return 2;
  const natsUrl = a.env['NATS_URL'] === undefined || a.env['NATS_URL'] === '' ? DEFAULT_NATS_URL : a.env['NATS_URL'];
  const root = a.root ?? config?.settings.subjectRoot ?? 'mcpbus';
  const key = a.key ?? a.env['MCPBUS_API_KEY'] ?? config?.masterKey;
  let args: Record<string, unknown> = {};
  if (a.args !== undefined) {
    try {
      const parsed: unknown = JSON.parse(a.args);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      args = parsed as Record<string, unknown>;
    } catch {
      err(`mcpbus: --args must be a JSON object, like '{"text":"hi"}'`);
      return 2;
    }
  }
  if (a.command !== 'tools' && a.tool === undefined) {
    err(`mcpbus: ${a.command} needs a tool name: mcpbus ${a.command} <tool> --args '{…}'`);
    return 2;
  }
  let client: BusClient | undefined;
  try {
    const { servers, ...credentials } = natsConnectOptions(natsUrl);
    client = await connect({ servers, subjectRoot: root, nats: credentials, ...(key === undefined ? {} : { apiKey: key }) });
    if (a.command === 'tools') {
      for (const tool of await client.listTools()) out(`${tool.name.padEnd(40)}  ${(tool.description ?? '').split('\n')[0] ?? ''}`);
      return 0;
    }
    const tool = a.tool as string;
    if (a.command === 'call') {
      const result = await client.callTool(tool, args, { onProgress: showProgress, timeoutMs: 600_000 });
      out(JSON.stringify(result, null, 2));
      return result.isError === true ? 1 : 0;
    }
    const handle = await client.submit(tool, args, a.callId === undefined ? {} : { callId: a.callId });
    out(handle.callId);
    if (!a.wait) return 0;
    for await (const p of handle.progress) showProgress(p);
    const result = await handle.result();
    out(JSON.stringify(result, null, 2));
    return result.isError === true ? 1 : 0;
  } catch (failure: unknown) {
    return report(failure, natsUrl, root);
  } finally {
    await client?.close().catch(() => undefined);
  }
}
