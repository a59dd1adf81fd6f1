/**
 * The small HTTP server of `schedule`: GET /metrics (Prometheus text) and GET /healthz
 * (200 or 503 with a JSON body). Nothing else is served.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../lib/errors.js';

export interface HttpRoutes {
  metrics(): Promise<{ body: string; contentType: string }>;
  health(): { healthy: boolean; body: unknown };
}

export interface RunningServer {
  /** The port listened on (the one chosen when 0 was asked for). */
  readonly port: number;
  close(): Promise<void>;
}

/** The request's path, or null when its target is not one (`GET http://[ HTTP/1.1`). */
function pathOf(request: IncomingMessage): string | null {
  try {
    return new URL(request.url ?? '/', 'http://localhost').pathname;
  } catch {
    return null;
  }
}

async function respond(routes: HttpRoutes, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = pathOf(request);
  if (path === null) {
    response.writeHead(400, { 'content-type': 'text/plain' }).end('bad request target: try /metrics or /healthz\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (path === '/metrics') {
    const { body, contentType } = await routes.metrics();
    response.writeHead(200, { 'content-type': contentType }).end(request.method === 'HEAD' ? undefined : body);
  } else if (path === '/healthz') {
    const { healthy, body } = routes.health();
    response
      .writeHead(healthy ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      .end(request.method === 'HEAD' ? undefined : `${JSON.stringify(body)}\n`);
  } else {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  }
}

/** Listens on host:port; a port that cannot be had is a UsageError naming `setting`. */
export function startHttpServer(host: string, port: number, routes: HttpRoutes, setting: string): Promise<RunningServer> {
  const server = createServer((request, response) => {
    respond(routes, request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  // Scrapes and health checks are short; an idle connection must not hold the shutdown.
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new UsageError(`${setting} ${port} on ${host}: cannot listen (${error.code ?? error.message})`)),
    );
    server.listen(port, host, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
