/** banger vm ports, banger vm forward */
import type { Command } from 'commander';
import { parsePortSpec, type ForwardRequest, type GuestSocket, type VMPorts } from '../../../api/ports.js';
import { ROUTES } from '../../../api/routes.js';
import { ExitStatus, type CliContext } from '../../context.js';
import { printJson, table } from '../../render.js';
import { eachName, noPassthrough } from './shared.js';

/** Where the host reaches a socket: its endpoint (as a link when it answers HTTP), and its published port when that differs. */
function hostColumn(s: GuestSocket): string {
  const main = s.url ?? s.endpoint;
  const extra = s.forward && s.forward !== s.endpoint ? s.forward : undefined;
  return [main, extra].filter(Boolean).join(', ') || '-';
}

function portsTable(p: VMPorts): string {
  const rows = p.sockets.map((s) => [s.proto, `${s.address.includes(':') ? `[${s.address}]` : s.address}:${s.port}`, s.process ?? '-', hostColumn(s)]);
  const where = p.guestAddr ? `${p.name}.vm = ${p.guestAddr}${p.published.length ? `, published on ${p.hostAddr ?? '127.0.0.1'}` : ''}` : p.hostAddr;
  let out = `${p.name}${where ? ` (${where})` : ''}\n${table(rows, ['PROTO', 'LISTEN', 'PROCESS', 'HOST'])}`;
  for (const s of p.sockets) if (s.warning) out += `warning: ${s.proto} ${s.port}: ${s.warning}\n`;
  const listening = new Set(p.sockets.filter((s) => s.proto === 'tcp').map((s) => s.port));
  for (const f of p.published) {
    if (!listening.has(f.guestPort)) out += `note: host port ${p.hostAddr ?? ''}:${f.hostPort} publishes guest port ${f.guestPort}, where nothing listens yet\n`;
  }
  return out;
}

export function registerPorts(vm: Command, ctx: CliContext): void {
  vm.command('ports')
    .description('List listening TCP/UDP sockets in running VMs, with where the host reaches them (published ports; in bridge mode also NAME.vm:PORT)')
    .argument('<names...>')
    .addHelpText('after', '\nExamples:\n  banger vm ports dev\n  banger --json vm ports dev web')
    .action(async (names: string[]) => {
      noPassthrough(ctx);
      const client = await ctx.client();
      const results = await Promise.allSettled(names.map((name) => client.call(ROUTES.vmPorts, { name })));
      const ok: VMPorts[] = [];
      let failed = false;
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') ok.push(r.value);
        else {
          if (names.length === 1) throw r.reason;
          failed = true;
          ctx.note(`banger: ${names[i]}: ${(r.reason as Error).message}`);
        }
      });
      if (ctx.globals.json) printJson(ctx.io, names.length === 1 ? ok[0] : ok);
      else ctx.io.stdout.write(ok.map(portsTable).join('\n'));
      if (failed) throw new ExitStatus(1);
    });

  vm.command('forward')
    .description("Publish guest TCP ports on the host (user mode: the VM's own address, NAME.vm; bridge mode: 127.0.0.1); kept for every start, gone while it is stopped")
    .argument('<name>')
    .argument('[ports...]', '[HOSTPORT:]GUESTPORT (a bare port uses the same number on the host)')
    .option('--remove <hostport...>', 'stop publishing these host ports')
    .addHelpText(
      'after',
      `
Examples:
  banger vm forward dev 3000            guest port 3000 on dev.vm:3000
  banger vm forward dev 8080:80 9000    guest 80 on dev.vm:8080, guest 9000 on dev.vm:9000
  banger vm forward dev --remove 8080
In bridge mode the ports are published on 127.0.0.1 (127.0.0.1:8080 for 8080:80); the host reaches
every guest port at NAME.vm:PORT there anyway. A running VM gets the change at once.`,
    )
    .action(async (name: string, ports: string[], o: { remove?: string[] }) => {
      noPassthrough(ctx);
      const body: ForwardRequest = {};
      if (ports.length) body.add = ports.map((p) => parsePortSpec(p) && p);
      if (o.remove?.length) body.remove = o.remove.map((p) => parsePortSpec(p).hostPort);
      await eachName(ctx, [name], async (n) => {
        const r = await (await ctx.client()).call(ROUTES.vmForward, { name: n }, body);
        if (!ctx.globals.json) {
          const list = r.published.map((p) => `${r.hostAddr ?? `${r.name}.vm`}:${p.hostPort} -> ${p.guestPort}`);
          ctx.io.stdout.write(list.length ? `${list.join('\n')}\n` : `${r.name}: no published ports\n`);
        }
        if (r.pending) ctx.note(r.pending);
        return r;
      });
    });
}
