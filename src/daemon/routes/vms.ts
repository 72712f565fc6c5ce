/** /v1/vms: lifecycle, logs, stats, ssh targets. */
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { badRequest } from '../../api/errors.js';
import type { CreateVMRequest, SetVMRequest } from '../../api/types.js';
import type { DaemonContext } from '../context.js';
import { jsonBody, keepOpen, optionalBool, optionalInt, optionalString, started } from '../http-util.js';

const SIGNALS = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGSTOP', 'SIGCONT']);

function createRequest(b: Record<string, unknown>): CreateVMRequest {
  const req: CreateVMRequest = {};
  const name = optionalString(b.name, 'name');
  const image = optionalString(b.image, 'image');
  const vcpu = optionalInt(b.vcpu, 'vcpu');
  const memoryMiB = optionalInt(b.memoryMiB, 'memoryMiB');
  const diskSize = optionalString(b.diskSize, 'diskSize');
  const nat = optionalBool(b.nat, 'nat');
  const noStart = optionalBool(b.noStart, 'noStart');
  if (name !== undefined) req.name = name;
  if (image !== undefined) req.image = image;
  if (vcpu !== undefined) req.vcpu = vcpu;
  if (memoryMiB !== undefined) req.memoryMiB = memoryMiB;
  if (diskSize !== undefined) req.diskSize = diskSize;
  if (nat !== undefined) req.nat = nat;
  if (noStart !== undefined) req.noStart = noStart;
  return req;
}

export function vmRoutes(ctx: DaemonContext): Hono {
  const r = new Hono();
  const vms = () => ctx.services.vms;

  r.get('/', (c) => c.json(vms().list()));
  r.post('/', async (c) => {
    const req = createRequest(await jsonBody(c));
    vms().precheck(req);
    return started(c, ctx.ops.begin('vm.create', req.name, (oc) => vms().create(req, oc)));
  });
  r.get('/:name', (c) => c.json(vms().show(c.req.param('name'))));
  r.delete('/:name', async (c) => c.json(await vms().delete(c.req.param('name'))));
  r.post('/prune', async (c) => c.json(await vms().prune()));
  r.post('/:name/start', (c) => {
    const name = c.req.param('name');
    vms().show(name);
    return started(c, ctx.ops.begin('vm.start', name, (oc) => vms().start(name, oc)));
  });
  r.post('/:name/restart', (c) => {
    const name = c.req.param('name');
    vms().show(name);
    return started(c, ctx.ops.begin('vm.restart', name, (oc) => vms().restart(name, oc)));
  });
  r.post('/:name/stop', async (c) => {
    const b = await jsonBody<{ timeoutSeconds?: unknown }>(c);
    const t = optionalInt(b.timeoutSeconds, 'timeoutSeconds');
    return c.json(await vms().stop(c.req.param('name'), t !== undefined ? { timeoutMs: t * 1000 } : {}));
  });
  r.post('/:name/kill', async (c) => {
    const b = await jsonBody<{ signal?: unknown }>(c);
    const sig = (optionalString(b.signal, 'signal') ?? 'SIGKILL').toUpperCase();
    const full = sig.startsWith('SIG') ? sig : `SIG${sig}`;
    if (!SIGNALS.has(full)) throw badRequest(`unsupported signal ${sig}`, `use one of ${[...SIGNALS].join(', ')}`);
    return c.json(await vms().kill(c.req.param('name'), full as NodeJS.Signals));
  });
  r.patch('/:name', async (c) => {
    const b = await jsonBody<Record<string, unknown>>(c);
    const req: SetVMRequest = {};
    const vcpu = optionalInt(b.vcpu, 'vcpu');
    const mem = optionalInt(b.memoryMiB, 'memoryMiB');
    const disk = optionalString(b.diskSize, 'diskSize');
    const nat = optionalBool(b.nat, 'nat');
    if (vcpu !== undefined) req.vcpu = vcpu;
    if (mem !== undefined) req.memoryMiB = mem;
    if (disk !== undefined) req.diskSize = disk;
    if (nat !== undefined) req.nat = nat;
    if (Object.keys(req).length === 0) throw badRequest('nothing to change', 'pass --vcpu, --memory, --disk-size or --nat');
    return c.json(await vms().set(c.req.param('name'), req));
  });
  r.get('/:name/ssh', (c) => c.json(vms().sshTarget(c.req.param('name'))));
  r.get('/:name/stats', (c) => c.json(vms().stats(c.req.param('name'))));
  r.get('/:name/health', async (c) => c.json(await vms().health(c.req.param('name'))));
  r.get('/:name/logs', (c) => {
    const log = vms().consoleLog(c.req.param('name'));
    const follow = c.req.query('follow') === '1' || c.req.query('follow') === 'true';
    keepOpen(c);
    c.header('Content-Type', 'text/plain; charset=utf-8');
    return stream(c, async (s) => {
      let aborted = false;
      s.onAbort(() => {
        aborted = true;
      });
      let offset = 0;
      const pump = async () => {
        if (!existsSync(log.path)) return;
        const size = statSync(log.path).size;
        if (size < offset) offset = 0;
        if (size === offset) return;
        for await (const chunk of createReadStream(log.path, { start: offset, end: size - 1 })) {
          await s.write(chunk as Uint8Array);
        }
        offset = size;
      };
      await pump();
      while (follow && !aborted) {
        await new Promise((res) => setTimeout(res, 300));
        await pump();
        if (!vms().isActive(log.id)) {
          await pump();
          break;
        }
      }
    });
  });
  return r;
}
