import { ROOT_CONTEXT, context, propagation, type Context, type TextMapGetter } from '@opentelemetry/api';
import { Match, headers, type MsgHdrs } from '@nats-io/transport-node';

const getter: TextMapGetter<MsgHdrs> = {
  // Other clients may capitalise header names ("Traceparent"); W3C names are lowercase.
  get: (carrier, key) => {
    const value = carrier.get(key, Match.IgnoreCase);
    return value === '' ? undefined : value;
  },
  keys: (carrier) => carrier.keys(),
};

/**
 * Adds the active trace context (W3C `traceparent`, `tracestate`) to a bus message's headers,
 * making headers only when there is something to carry. Without tracing, `h` comes back as is.
 */
export function withTraceHeaders(h: MsgHdrs | undefined): MsgHdrs | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (carrier['traceparent'] === undefined) return h;
  const out = h ?? headers();
  for (const [key, value] of Object.entries(carrier)) out.set(key, value);
  return out;
}

/** The trace context a bus message carries (a worker continues the caller's trace); the root context without one. */
export function traceContextOf(msg: { headers?: MsgHdrs | undefined }): Context {
  return msg.headers === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, msg.headers, getter);
}
