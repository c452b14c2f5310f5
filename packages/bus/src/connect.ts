import { connect, type NatsConnection } from '@nats-io/transport-node';
import { messageOf, redactUrl } from '@mcpbus/protocol';

export type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';

export interface BusConnectOptions {
  url: string;
  /** Shown in the NATS server's connection list. */
  name: string;
  /** How long to wait for the first connection. */
  timeoutMs?: number;
}

/**
 * The servers of a NATS_URL (comma-separated) and the credentials written in it: `user:pass@`
 * or `token@`. The NATS client does not read credentials from URLs itself, so they are passed
 * as options; they must be the same in every URL of the list.
 */
export function natsConnectOptions(url: string): { servers: string[]; user?: string; pass?: string; token?: string } {
  const servers: string[] = [];
  let auth: { user?: string; pass?: string; token?: string } = {};
  for (const raw of url.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    let parsed: URL;
    try {
      parsed = new URL(raw.includes('://') ? raw : `nats://${raw}`);
    } catch {
      servers.push(raw);
      continue;
    }
    const user = decodeURIComponent(parsed.username);
    const pass = decodeURIComponent(parsed.password);
    if (user !== '') auth = pass !== '' ? { user, pass } : { token: user };
    servers.push(`${parsed.protocol}//${parsed.host}`);
  }
  return { servers, ...auth };
}

/**
 * Connects to NATS and keeps reconnecting forever once connected: a restarted nats-server must
 * not take a replica down. Fails fast, with the URL in the message, when the first attempt fails.
 */
export async function connectBus(options: BusConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      ...natsConnectOptions(options.url),
      name: options.name,
      timeout: options.timeoutMs ?? 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      noAsyncTraces: true,
    });
  } catch (err: unknown) {
    throw new Error(`cannot connect to NATS at ${redactUrl(options.url)}: ${messageOf(err)}`, { cause: err });
  }
}
