import type { NatsConnection } from '@nats-io/transport-node';

/** Whether a connection is up right now: `isClosed()` stays false while the client reconnects. */
export interface ConnectionState {
  connected(): boolean;
}

/** Follows a connection's disconnects and reconnects, for readiness probes. */
export function trackConnection(nc: NatsConnection): ConnectionState {
  let up = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') up = false;
      else if (status.type === 'reconnect') up = true;
    }
  })().catch(() => undefined);
  return { connected: () => up && !nc.isClosed() };
}
