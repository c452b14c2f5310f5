import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { API_KEY_HEADER } from '@mcpbus/protocol';

/** Headers carrying a caller's API key, or none without a key. */
export function apiKeyHeaders(key: string | undefined): MsgHdrs | undefined {
  if (key === undefined || key === '') return undefined;
  const h = headers();
  h.set(API_KEY_HEADER, key);
  return h;
}

/** The API key a bus request (or a JetStream submission) carries, if any. */
export function apiKeyOf(msg: { headers?: MsgHdrs | undefined }): string | undefined {
  const key = msg.headers?.get(API_KEY_HEADER);
  return key === undefined || key === '' ? undefined : key;
}
