import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Headers that describe one hop (RFC 9110 §7.6.1) and are never forwarded as they are. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);
/** Methods a proxy may send again after an error, whatever reached the server (as nginx does). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
/** As nginx's client_max_body_size in deploy/nginx.conf: above the ingress's own limit, so its answer gets through. */
const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024;
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

export interface RoundRobinProxyOptions {
  /** Origins of the replicas, e.g. `http://127.0.0.1:41001`. */
  targets: readonly string[];
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /**
   * Reuse connections to the replicas (nginx's `keepalive 32`). Off by default: a fresh
   * connection per request, so a replica that stops listening is seen at once as refused.
   */
  upstreamKeepAlive?: boolean;
  maxBodyBytes?: number;
}

export interface ProxyStats {
  /** Requests handed to each target (by origin), retries included. */
  forwarded: Record<string, number>;
  /** Requests sent on to another target because the first could not take them. */
  retried: number;
  /** Requests answered 502 by the proxy itself. */
  badGateway: number;
  /** Responses cut because their replica went away after answering had begun. */
  cut: number;
}

export interface RoundRobinProxy {
  /** `http://host:port` of the proxy. */
  readonly url: string;
  readonly port: number;
  stats(): ProxyStats;
  /** Idempotent; cuts open streams. */
  close(): Promise<void>;
}

function forwardedHeaders(headers: IncomingHttpHeaders, remote: string | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  const prior = headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior === undefined ? (remote ?? '') : `${String(prior)}, ${remote ?? ''}`;
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

function badGateway(res: ServerResponse, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message } });
  res.writeHead(502, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * A round-robin HTTP proxy, the stand-in for docker-compose's nginx: each request (not each
 * connection) goes to the next replica, responses stream through unbuffered (SSE), both sides
 * keep connections alive, and the Host header passes unchanged (the ingress checks it).
 *
 * It never sends a request that may have reached a replica to another one (a tool call is not
 * re-run behind the caller's back). A request is moved on only when its replica provably did not
 * take it: the connection was refused, or, for requests with a body, the connection failed
 * before the replica answered `Expect: 100-continue` (it cannot act on a body it never read).
 * GET, HEAD and OPTIONS are moved on after any error before a response, as nginx does.
 */
export async function startRoundRobinProxy(options: RoundRobinProxyOptions): Promise<RoundRobinProxy> {
  if (options.targets.length === 0) throw new Error('the proxy needs at least one target');
  const targets = options.targets.map((t) => new URL(t));
  const agents = targets.map(() => (options.upstreamKeepAlive === true ? new Agent({ keepAlive: true, maxFreeSockets: 32 }) : undefined));
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const stats: ProxyStats = { forwarded: Object.fromEntries(targets.map((t) => [t.origin, 0])), retried: 0, badGateway: 0, cut: 0 };
  let next = 0;

  function forward(req: IncomingMessage, res: ServerResponse, body: Buffer, first: number, attempt: number): void {
    const index = (first + attempt) % targets.length;
    const target = targets[index] as URL;
    const agent = agents[index];
    stats.forwarded[target.origin] = (stats.forwarded[target.origin] ?? 0) + 1;
    const method = req.method ?? 'GET';
    const hasBody = body.length > 0 || !IDEMPOTENT.has(method);
    const headers = forwardedHeaders(req.headers, req.socket.remoteAddress);
    if (hasBody) {
      headers['content-length'] = body.length;
      headers['expect'] = '100-continue';
    }
    let bodySent = !hasBody;
    let answered = false;
    const upstream = request({ host: target.hostname, port: target.port, method, path: req.url, headers, agent: agent ?? false, setHost: false });
    const sendBody = (): void => {
      if (bodySent) return;
      bodySent = true;
      upstream.end(body);
    };
    // Node's server answers 100 Continue before it reads anything; a replica that answers at once
    // (an early error) gets the body anyway so the exchange completes.
    upstream.on('continue', sendBody);
    if (!hasBody) upstream.end();
    upstream.on('response', (upstreamRes) => {
      answered = true;
      sendBody();
      if (res.destroyed) {
        upstreamRes.destroy();
        return;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, responseHeaders(upstreamRes.headers));
      // SSE: the client sees each event as the replica sends it.
      if ((upstreamRes.headers['content-type'] ?? '').includes('text/event-stream')) res.flushHeaders();
      upstreamRes.pipe(res);
      upstreamRes.on('close', () => {
        // The replica went away mid-answer: the client must see a broken response, not an end.
        if (!upstreamRes.complete && !res.writableEnded) {
          stats.cut += 1;
          res.destroy();
        }
      });
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (answered || res.destroyed) return;
      const untouched = CONNECT_ERRORS.has(err.code ?? '') || (hasBody && !bodySent) || IDEMPOTENT.has(method);
      if (untouched && attempt + 1 < targets.length * 2) {
        stats.retried += 1;
        // Every replica refusing (all restarting) is worth one short wait before giving up.
        const delayMs = attempt + 1 >= targets.length ? 200 : 0;
        setTimeout(() => forward(req, res, body, first, attempt + 1), delayMs);
        return;
      }
      stats.badGateway += 1;
      badGateway(res, untouched
        ? `no ingress replica could be reached (${err.code ?? err.message})`
        : `the ingress at ${target.host} closed the connection before answering (${err.code ?? err.message}); the request may or may not have been processed`);
    });
    // A client that goes away ends the exchange with the replica too (2026 clients cancel that way).
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  }

  const server = createServer((req, res) => {
    if (req.url === '/proxy-health') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      return;
    }
    const first = next;
    next = (next + 1) % targets.length;
    readBody(req, maxBodyBytes).then(
      (body) => {
        if (body === undefined) {
          res.writeHead(413, { 'Content-Type': 'application/json', Connection: 'close' }).end(JSON.stringify({ error: { code: 'payload_too_large', message: `the proxy takes bodies up to ${maxBodyBytes} bytes` } }));
          return;
        }
        forward(req, res, body, first, 0);
      },
      () => res.destroy(),
    );
  });
  // Above the clients' own idle timeouts, so the proxy is never the side that closes first.
  server.keepAliveTimeout = 65_000;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    stats: () => ({ ...stats, forwarded: { ...stats.forwarded } }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        for (const agent of agents) agent?.destroy();
      });
      return closing;
    },
  };
}
