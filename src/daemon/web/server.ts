/**
 * The web UI's server (web_listen_addr, loopback only): the single-page app's files, and under /v1 the
 * daemon's own API app (the same routes and handlers the unix socket serves, so the UI can do nothing
 * the socket's owner could not), all behind the gate in guard.ts.
 */
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { API_PREFIX } from '../../api/types.js';
import type { DaemonContext } from '../context.js';
import { assetResponse, loadAssets } from './assets.js';
import { webGuard } from './guard.js';
import { terminalRoute } from './terminal.js';

export interface WebServer {
  listenAddr: string;
  close(): Promise<void>;
}

export function createWebApp(ctx: DaemonContext, api: Hono, listenAddr: string, token: string): { app: Hono; injectWebSocket: (server: Server) => void } {
  const app = new Hono();
  const nodeWs = createNodeWebSocket({ app });
  const assets = loadAssets();
  app.use('*', webGuard(listenAddr, token));
  app.all(`${API_PREFIX}/*`, (c) => api.fetch(c.req.raw, c.env));
  terminalRoute(app, ctx, nodeWs.upgradeWebSocket);
  app.on(['GET', 'HEAD'], '*', (c) => {
    const path = c.req.path === '/' ? '/index.html' : c.req.path;
    const asset = assets.get(path);
    if (asset) return assetResponse(asset, c.req.header('accept-encoding'), c.req.method === 'HEAD');
    if (assets.size === 0) return c.text('the web UI was not built into this package (npm run build makes dist/web-assets)', 503);
    return c.text(`no such page: ${c.req.path}`, 404);
  });
  return { app, injectWebSocket: (server) => nodeWs.injectWebSocket(server) };
}

export async function startWebServer(ctx: DaemonContext, api: Hono, listenAddr: string, token: string): Promise<WebServer> {
  const { app, injectWebSocket } = createWebApp(ctx, api, listenAddr, token);
  const listener = getRequestListener(app.fetch);
  const server = createServer((req, res) => {
    void listener(req, res);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0;
  injectWebSocket(server);
  const sep = listenAddr.lastIndexOf(':');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(listenAddr.slice(sep + 1)), listenAddr.slice(0, sep), () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    listenAddr,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
