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
 * Connects to NATS and keeps reconnecting forever once connected: a restarted nats-server must
 * not take a replica down. Fails fast, with the URL in the message, when the first attempt fails.
 */
export async function connectBus(options: BusConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: options.url,
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
