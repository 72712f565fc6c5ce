/**
 * GET /terminal/:name (websocket): a shell in the VM over SSH. Binary frames carry the terminal's bytes
 * both ways; text frames are JSON: {"resize":[cols,rows]} from the page, {"status"} or {"error"} to it.
 * The gate in guard.ts has checked the cookie and the Origin before the upgrade.
 */
import type { Hono } from 'hono';
import type { UpgradeWebSocket, WSContext } from 'hono/ws';
import type { DaemonContext } from '../context.js';
import { openVMTerminal } from '../../services/vms/terminal.js';
import type { PtySession } from '../../drivers/ssh/pty-session.js';

export function terminalRoute(app: Hono, ctx: DaemonContext, upgradeWebSocket: UpgradeWebSocket<unknown>): void {
  app.get(
    '/terminal/:name',
    upgradeWebSocket((c) => {
      const name = c.req.param('name') ?? '';
      const size = { cols: Number(c.req.query('cols') ?? 80), rows: Number(c.req.query('rows') ?? 24) };
      let session: PtySession | undefined;
      let ended = false;
      const pending: Uint8Array[] = [];
      return {
        onOpen: (_e, ws: WSContext<unknown>) => {
          openVMTerminal(ctx.services.vms, name, size).then(
            (s) => {
              if (ended) return s.close();
              session = s;
              ws.send(JSON.stringify({ status: 'connected' }));
              s.onData((d) => ws.send(new Uint8Array(d)));
              s.onClose(() => ws.close(1000, 'shell ended'));
              for (const p of pending.splice(0)) s.write(p);
            },
            (err: unknown) => {
              ctx.logger.warn('web terminal failed', { vm: name, error: (err as Error).message });
              ws.send(JSON.stringify({ error: (err as Error).message }));
              ws.close(1011, 'ssh failed');
            },
          );
        },
        onMessage: (e) => {
          if (typeof e.data === 'string') {
            let msg: { resize?: [number, number] } = {};
            try {
              msg = JSON.parse(e.data) as typeof msg;
            } catch {
              /* not a control message: ignored */
            }
            if (Array.isArray(msg.resize)) session?.resize(Number(msg.resize[0]), Number(msg.resize[1]));
            return;
          }
          const bytes = e.data instanceof ArrayBuffer ? new Uint8Array(e.data) : new Uint8Array(0);
          if (session) session.write(bytes);
          else pending.push(bytes);
        },
        onClose: () => {
          ended = true;
          session?.close();
        },
      };
    }),
  );
}
