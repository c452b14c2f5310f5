import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsText } from '@mcpbus/logging';

/**
 * Health endpoints for processes without an ingress (workers, runners), for container health
 * checks: `GET /health/liveness` answers while the process runs, `GET /health/readiness` 200
 * while its roles can serve and 503 otherwise. `GET /metrics` serves the process's Prometheus
 * metrics without a key: this port belongs on an internal network, where scrapers are.
 */
export async function startHealthServer(port: number, host: string, ready: () => boolean): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/health/liveness' || path === '/health/liveliness') return answer(200, "I'm alive!");
    if (path === '/health/readiness') return ready() ? answer(200, { status: 'healthy' }) : answer(503, { status: 'unhealthy' });
    if (path === '/metrics') {
      metricsText().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'Content-Type': contentType });
          res.end(body);
        },
        () => answer(500, { error: { code: 'internal', message: 'metrics could not be collected' } }),
      );
      return;
    }
    answer(404, { error: { code: 'not_found', message: `No route for ${path ?? '/'}` } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
