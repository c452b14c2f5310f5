import { INVALID_SPAN_CONTEXT, ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

export { SpanKind, type Context, type Span } from '@opentelemetry/api';

const TRACER = ['mcpbus', '0.1.0'] as const;
/**
 * The one tracer of mcpbus; a no-op until `startTracing` installs an exporting provider. Taken
 * again whenever the provider changes: a proxy tracer keeps the provider it first delegated to.
 */
let tracer = trace.getTracer(...TRACER);
/**
 * Whether `startTracing` installed an exporting provider. Until then the helpers below skip the
 * OpenTelemetry API altogether: the hot path pays a branch, not a no-op span and context.
 */
let exporting = false;
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Whether spans are exported (`startTracing` found an endpoint). */
export function tracingEnabled(): boolean {
  return exporting;
}

export interface TracingHandle {
  /** Whether spans are exported (an OTLP endpoint was configured). */
  readonly enabled: boolean;
  /** Sends the spans ended so far. */
  flush(): Promise<void>;
  /** Sends what is left and uninstalls the provider. */
  close(): Promise<void>;
}

export interface TracingOptions {
  /** The variables to read (`OTEL_EXPORTER_OTLP_ENDPOINT`, …): passed in, never read from process.env here. */
  env: Record<string, string | undefined>;
  /** `service.name` of the spans, unless `OTEL_SERVICE_NAME` says otherwise. */
  serviceName: string;
  /** More resource attributes (e.g. the roles the process runs). */
  attributes?: Record<string, string>;
}

const NO_TRACING: TracingHandle = { enabled: false, flush: () => Promise.resolve(), close: () => Promise.resolve() };

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Where spans go: the traces endpoint as given, or `/v1/traces` under the general one (the OTLP spec's rule). */
export function otlpTracesUrl(env: Record<string, string | undefined>): string | undefined {
  const traces = nonEmpty(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
  if (traces !== undefined) return traces;
  const base = nonEmpty(env['OTEL_EXPORTER_OTLP_ENDPOINT']);
  return base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** `OTEL_EXPORTER_OTLP_HEADERS` / `…_TRACES_HEADERS`: `k=v,k2=v2`, values URL-encoded. */
function otlpHeaders(env: Record<string, string | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    for (const pair of (env[name] ?? '').split(',')) {
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      try {
        headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
      } catch {
        // A malformed pair is skipped, as the SDK does.
      }
    }
  }
  return headers;
}

/**
 * Installs an OpenTelemetry tracer provider that exports spans over OTLP/HTTP (JSON) when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set and `OTEL_SDK_DISABLED` is not
 * `true`; otherwise does nothing, and every span mcpbus starts is a no-op. The SDK is loaded
 * only when it is used. Sampling follows `OTEL_TRACES_SAMPLER` (default: parent-based, always on).
 */
export async function startTracing(options: TracingOptions): Promise<TracingHandle> {
  const { env } = options;
  const url = otlpTracesUrl(env);
  if (url === undefined || nonEmpty(env['OTEL_SDK_DISABLED'])?.toLowerCase() === 'true') return NO_TRACING;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const resource = resourceFromAttributes({ 'service.name': nonEmpty(env['OTEL_SERVICE_NAME']) ?? options.serviceName, ...options.attributes });
  const exporter = new OTLPTraceExporter({ url, headers: otlpHeaders(env) });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  // Also installs the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  tracer = trace.getTracer(...TRACER);
  exporting = true;
  let closing: Promise<void> | undefined;
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    close() {
      exporting = false;
      closing ??= provider.shutdown().finally(() => {
        trace.disable();
        context.disable();
        propagation.disable();
        tracer = trace.getTracer(...TRACER);
      });
      return closing;
    },
  };
}

export interface SpanOptions {
  kind: SpanKind;
  attributes?: Attributes;
  /** The parent: a context extracted from a message or job; the active context by default. */
  parent?: Context;
}

/**
 * Runs `work` inside a new span (the active one while it runs) and ends the span when `work`
 * settles; a failure is recorded on the span and rethrown. Without tracing, `work` just runs
 * (with a span that records nothing) and `options`, when a function, is never called.
 */
export function inSpan<T>(name: string, options: SpanOptions | (() => SpanOptions), work: (span: Span) => Promise<T>): Promise<T> {
  return exporting ? traced(name, typeof options === 'function' ? options() : options, work) : work(NO_SPAN);
}

async function traced<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: options.kind, ...(options.attributes === undefined ? {} : { attributes: options.attributes }) }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (err: unknown) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Starts a span the caller ends (one that outlives a function call, such as an HTTP request's). */
export function startSpan(name: string, options: SpanOptions): { span: Span; context: Context } {
  if (!exporting) return { span: NO_SPAN, context: ROOT_CONTEXT };
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: options.kind, ...(options.attributes === undefined ? {} : { attributes: options.attributes }) }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Marks a span failed, naming the error by its code (McpbusError) or class, never its stack. */
export function failSpan(span: Span, err: unknown): void {
  if (!span.isRecording()) return;
  const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.setAttribute('error.type', code ?? (err instanceof Error ? err.name : 'error'));
}

/** Runs `work` with `ctx` active (a context from `startSpan`). */
export function withContext<T>(ctx: Context, work: () => T): T {
  return exporting ? context.with(ctx, work) : work();
}

/** The W3C trace context (`traceparent`, `tracestate`) of the active span, for a job's data; undefined without one. */
export function traceCarrier(): Record<string, string> | undefined {
  if (!exporting) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier['traceparent'] === undefined ? undefined : carrier;
}

/** The context a W3C carrier (HTTP headers, a job's trace field) continues; the root context without one. */
export function contextOf(carrier: Record<string, string | string[] | undefined> | undefined): Context {
  return carrier === undefined || !exporting ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, carrier);
}

/** The trace id of a recording span, for log lines; undefined when nothing is traced. */
export function traceIdOf(span: Span): string | undefined {
  return span.isRecording() ? span.spanContext().traceId : undefined;
}

/** The active span, if any (to name it better once a request is decoded). */
export function activeSpan(): Span | undefined {
  return exporting ? trace.getActiveSpan() : undefined;
}

/** `{ traceId }` of the active span when it is recorded, for a call's child logger; `{}` otherwise. */
export function traceFields(): { traceId?: string } {
  if (!exporting) return {};
  const span = trace.getActiveSpan();
  return span?.isRecording() === true ? { traceId: span.spanContext().traceId } : {};
}
