/**
 * GET /events: server-sent events for live views. Each VM write is announced by the services' change
 * feed and sent as the VM's fresh view (`vm`) or its removal (`vm_deleted`); operations are sent as
 * their summary when they start, enter a stage and end (`operation`). Their progress (bytes pulled)
 * stays on GET /operations/:id/events. A comment line every 15 s keeps idle proxies and browsers open.
 */
import { streamSSE } from 'hono/streaming';
import { ROUTES } from '../../api/routes.js';
import type { LiveEvent } from '../../api/types.js';
import type { DaemonContext } from '../context.js';
import { keepOpen } from '../http-util.js';
import type { RouteKit } from '../route-kit.js';
import type { VMChange } from '../../services/vms/changes.js';

const HEARTBEAT_MS = 15_000;

export function eventRoutes(kit: RouteKit, ctx: DaemonContext): void {
  kit.stream(ROUTES.events, ({ c }) => {
    keepOpen(c);
    return streamSSE(c, async (s) => {
      const queue: LiveEvent[] = [];
      let wake: (() => void) | undefined;
      const push = (ev: LiveEvent) => {
        queue.push(ev);
        wake?.();
      };
      const onVm = (change: VMChange) => {
        if (change.kind === 'deleted') return push({ type: 'vm_deleted', id: change.id, name: change.name });
        try {
          push({ type: 'vm', vm: ctx.services.vms.show(change.id) });
        } catch {
          /* gone again before we could read it: its deletion follows */
        }
      };
      const stops = [ctx.services.vmChanges.subscribe(onVm), ctx.ops.watch((operation) => push({ type: 'operation', operation }))];
      let aborted = false;
      s.onAbort(() => {
        aborted = true;
        wake?.();
      });
      const beat = setInterval(() => {
        void s.write(': keep-alive\n\n').catch(() => undefined);
      }, HEARTBEAT_MS);
      try {
        await s.write(': connected\n\n');
        while (!aborted) {
          while (queue.length > 0 && !aborted) {
            const ev = queue.shift()!;
            await s.writeSSE({ event: ev.type, data: JSON.stringify(ev) });
          }
          if (aborted) break;
          await new Promise<void>((res) => (wake = res));
          wake = undefined;
        }
      } finally {
        clearInterval(beat);
        for (const stop of stops) stop();
      }
    });
  });
}
