/** banger vm ... : lifecycle commands. `vm run` lives in vm-run.ts. */
import type { Command } from 'commander';
import { badRequest } from '../../api/errors.js';
import type { VMInfo, VMStats } from '../../api/types.js';
import { formatSize, humanSize } from '../../model/size.js';
import type { CliContext } from '../context.js';
import { ExitStatus, notAvailableYet } from '../context.js';
import { attach, sshTarget } from '../guest-ssh.js';
import { intOption, memoryOption, sizeOption } from '../options.js';
import { runOperation } from '../progress.js';
import { age, printJson, table } from '../render.js';
import { addCreateFlags, createBody, registerVMRun } from './vm-run.js';

const enc = encodeURIComponent;

export function vmTable(vms: VMInfo[]): string {
  return table(
    vms.map((v) => [v.name, v.state, v.imageName ?? v.imageId.slice(0, 12), v.ip ?? '-', String(v.spec.vcpu), `${v.spec.memoryMiB}M`, age(v.createdAt)]),
    ['NAME', 'STATE', 'IMAGE', 'IP', 'VCPU', 'MEM', 'AGE'],
  );
}

export function registerList(cmd: Command, ctx: CliContext): Command {
  return cmd.description('List VMs (NAME STATE IMAGE IP VCPU MEM AGE)').action(async () => {
    const vms = await (await ctx.client()).get<VMInfo[]>('/vms');
    if (ctx.globals.json) printJson(ctx.io, vms);
    else if (vms.length === 0) ctx.io.stdout.write('no VMs yet (create one with banger vm run)\n');
    else ctx.io.stdout.write(vmTable(vms));
  });
}

function noPassthrough(ctx: CliContext): void {
  if (ctx.passthrough) throw badRequest('this command takes nothing after --');
}

async function eachName(ctx: CliContext, names: string[], fn: (name: string) => Promise<unknown>): Promise<void> {
  let failed: unknown;
  const results: unknown[] = [];
  for (const n of names) {
    try {
      results.push(await fn(n));
    } catch (err) {
      if (names.length === 1) throw err;
      ctx.note(`banger: ${n}: ${(err as Error).message}`);
      failed = err;
    }
  }
  if (ctx.globals.json) printJson(ctx.io, names.length === 1 ? results[0] : results);
  if (failed) throw new ExitStatus(1);
}

export function registerVM(program: Command, ctx: CliContext): void {
  const vm = program
    .command('vm')
    .description('Create, run and manage VMs')
    .addHelpText(
      'after',
      `
Examples:
  banger vm run                         boot a sandbox and open a root shell
  banger vm run --rm -- make test       run one command in a throwaway VM
  banger vm create --name dev --no-start
  banger vm list
  banger vm ssh dev                     shell in a running VM
  banger vm exec dev -- uname -a        run a command, exit with its status
  banger vm stop dev && banger vm delete dev`,
    );

  registerVMRun(vm, ctx);

  addCreateFlags(vm.command('create').description('Create a VM (and start it unless --no-start)'))
    .option('--nat', 'give the VM outbound internet access')
    .option('--no-start', 'create the disks only')
    .addHelpText('after', `\nExamples:\n  banger vm create --name dev\n  banger vm create --name big --vcpu 4 --memory 8G --disk-size 32G\n  banger vm create --image debian-bookworm --name box --no-start`)
    .action(async (o: Parameters<typeof createBody>[0]) => {
      noPassthrough(ctx);
      const info = await runOperation<VMInfo>(ctx, 'POST', '/vms', createBody(o));
      if (ctx.globals.json) printJson(ctx.io, info);
      else ctx.io.stdout.write(`${info.name}\n`);
    });

  vm.command('start')
    .description('Start stopped VMs')
    .argument('<names...>')
    .addHelpText('after', '\nExample:\n  banger vm start dev')
    .action(async (names: string[]) => {
      noPassthrough(ctx);
      await eachName(ctx, names, async (n) => {
        const info = await runOperation<VMInfo>(ctx, 'POST', `/vms/${enc(n)}/start`, {});
        if (!ctx.globals.json) ctx.io.stdout.write(`${info.name} running\n`);
        return info;
      });
    });

  vm.command('stop')
    .description('Stop VMs gracefully (sync and power off in the guest; disks are kept)')
    .argument('<names...>')
    .option('--timeout <seconds>', 'kill the VM if it has not powered off by then', intOption('--timeout', 1, 3600))
    .addHelpText('after', '\nExample:\n  banger vm stop dev')
    .action(async (names: string[], o: { timeout?: number }) => {
      const client = await ctx.client();
      await eachName(ctx, names, async (n) => {
        const info = await client.post<VMInfo>(`/vms/${enc(n)}/stop`, o.timeout ? { timeoutSeconds: o.timeout } : {});
        if (!ctx.globals.json) ctx.io.stdout.write(`${info.name} ${info.state}\n`);
        return info;
      });
    });

  vm.command('restart')
    .description('Stop then start a VM')
    .argument('<name>')
    .action(async (name: string) => {
      const info = await runOperation<VMInfo>(ctx, 'POST', `/vms/${enc(name)}/restart`, {});
      if (ctx.globals.json) printJson(ctx.io, info);
      else ctx.io.stdout.write(`${info.name} running\n`);
    });

  vm.command('kill')
    .description("Force-stop VMs (use when 'vm stop' hangs)")
    .argument('<names...>')
    .option('-s, --signal <signal>', 'signal to send', 'SIGKILL')
    .action(async (names: string[], o: { signal: string }) => {
      const client = await ctx.client();
      await eachName(ctx, names, async (n) => {
        const info = await client.post<VMInfo>(`/vms/${enc(n)}/kill`, { signal: o.signal });
        if (!ctx.globals.json) ctx.io.stdout.write(`${info.name} ${info.state}\n`);
        return info;
      });
    });

  vm.command('delete')
    .alias('rm')
    .description('Stop VMs and remove their disks (irreversible)')
    .argument('<names...>')
    .addHelpText('after', '\nExample:\n  banger vm delete dev old-box')
    .action(async (names: string[]) => {
      const client = await ctx.client();
      await eachName(ctx, names, async (n) => {
        const r = await client.delete<{ deleted: string }>(`/vms/${enc(n)}`);
        if (!ctx.globals.json) ctx.io.stdout.write(`deleted ${r.deleted}\n`);
        return r;
      });
    });

  vm.command('prune')
    .description('Delete every VM that is not running')
    .option('-f, --force', 'do not ask')
    .action(async (o: { force?: boolean }) => {
      const client = await ctx.client();
      const victims = (await client.get<VMInfo[]>('/vms')).filter((v) => !['running', 'starting', 'stopping'].includes(v.state));
      if (victims.length === 0) {
        if (ctx.globals.json) printJson(ctx.io, { deleted: [] });
        else ctx.io.stdout.write('nothing to prune\n');
        return;
      }
      if (!o.force) {
        ctx.io.stdout.write(vmTable(victims));
        if (!ctx.io.stdin.isTTY) throw badRequest(`would delete ${victims.length} VM(s); pass -f to confirm`, 'banger vm prune -f');
        ctx.io.stdout.write(`Delete these ${victims.length} VM(s)? [y/N] `);
        const answer = await readLine(ctx.io.stdin);
        if (!/^y(es)?$/i.test(answer.trim())) {
          ctx.io.stdout.write('nothing deleted\n');
          return;
        }
      }
      const r = await client.post<{ deleted: string[] }>('/vms/prune');
      if (ctx.globals.json) printJson(ctx.io, r);
      else ctx.io.stdout.write(r.deleted.map((n) => `deleted ${n}\n`).join(''));
    });

  registerList(vm.command('list').alias('ls'), ctx);

  vm.command('show')
    .description('Show one VM in detail')
    .argument('<name>')
    .action(async (name: string) => {
      const v = await (await ctx.client()).get<VMInfo>(`/vms/${enc(name)}`);
      if (ctx.globals.json) {
        printJson(ctx.io, v);
        return;
      }
      const rows: [string, string][] = [
        ['name', v.name], ['id', v.id], ['state', v.state], ['image', v.imageName ?? v.imageId],
        ['vcpu', String(v.spec.vcpu)], ['memory', `${v.spec.memoryMiB} MiB`], ['disk', formatSize(v.spec.diskSizeBytes)],
        ['dns', v.dnsName], ['ssh', v.sshPort ? `${v.sshHost}:${v.sshPort}` : '-'], ['driver', v.driver ? `${v.driver} (${v.accel ?? '?'})` : '-'],
        ['pid', v.pid ? String(v.pid) : '-'], ['created', v.createdAt],
      ];
      if (v.lastError) rows.push(['last error', v.lastError]);
      for (const p of v.problems ?? []) rows.push(['problem', p]);
      ctx.io.stdout.write(rows.map(([k, val]) => `${(k + ':').padEnd(12)}${val}`).join('\n') + '\n');
    });

  vm.command('logs')
    .description("Print a VM's serial console log")
    .argument('<name>')
    .option('-f, --follow', 'keep printing as the VM writes')
    .action(async (name: string, o: { follow?: boolean }) => {
      const res = await (await ctx.client()).open('GET', `/vms/${enc(name)}/logs${o.follow ? '?follow=1' : ''}`);
      for await (const chunk of res) ctx.io.stdout.write(chunk as Buffer);
    });

  vm.command('stats')
    .description('CPU and memory of the VM process')
    .argument('<name>')
    .action(async (name: string) => {
      const s = await (await ctx.client()).get<VMStats>(`/vms/${enc(name)}/stats`);
      if (ctx.globals.json) {
        printJson(ctx.io, s);
        return;
      }
      ctx.io.stdout.write(
        table([[s.name, s.state, s.pid ? String(s.pid) : '-', s.cpuPercent !== undefined ? `${s.cpuPercent}%` : '-', s.rssBytes ? humanSize(s.rssBytes) : '-', `${s.memoryMiB}M`, String(s.vcpu)]], ['NAME', 'STATE', 'PID', 'CPU', 'RSS', 'MEM', 'VCPU']),
      );
    });

  vm.command('set')
    .description('Change a VM: --vcpu/--memory on a stopped VM, --disk-size grows the work disk')
    .argument('<names...>')
    .option('--vcpu <n>', 'virtual CPUs', intOption('--vcpu', 1, 64))
    .option('--memory <mib>', 'memory in MiB (or 2G)', memoryOption)
    .option('--disk-size <size>', 'grow the work disk to this size', sizeOption)
    .option('--nat', 'enable outbound internet')
    .option('--no-nat', 'disable outbound internet')
    .addHelpText('after', '\nExample:\n  banger vm stop dev && banger vm set dev --vcpu 4 --memory 4G --disk-size 32G')
    .action(async (names: string[], o: { vcpu?: number; memory?: number; diskSize?: string; nat?: boolean }) => {
      const client = await ctx.client();
      const body: Record<string, unknown> = {};
      if (o.vcpu !== undefined) body.vcpu = o.vcpu;
      if (o.memory !== undefined) body.memoryMiB = o.memory;
      if (o.diskSize !== undefined) body.diskSize = o.diskSize;
      if (o.nat !== undefined) body.nat = o.nat;
      await eachName(ctx, names, async (n) => {
        const info = await client.patch<VMInfo>(`/vms/${enc(n)}`, body);
        if (!ctx.globals.json) ctx.io.stdout.write(`${info.name}: ${info.spec.vcpu} vcpu, ${info.spec.memoryMiB} MiB, ${formatSize(info.spec.diskSizeBytes)} disk\n`);
        return info;
      });
    });

  vm.command('ssh')
    .description('Open a root shell in a running VM (or run a command after --)')
    .argument('<name>')
    .addHelpText('after', '\nExamples:\n  banger vm ssh dev\n  banger vm ssh dev -- tail -f /var/log/syslog')
    .action(async (name: string) => {
      const client = await ctx.client();
      const command = ctx.passthrough;
      const status = await attach(await sshTarget(client, name), command, 'auto');
      if (!command?.length) ctx.note(`vm ${name} is still running (stop with banger vm stop ${name})`);
      if (status !== 0) throw new ExitStatus(status);
    });

  vm.command('exec')
    .description('Run a command in a running VM; its exit status becomes banger\'s')
    .argument('<name>')
    .addHelpText('after', "\nExamples:\n  banger vm exec dev -- uname -a\n  banger vm exec dev -- sh -c 'cd /root && make test'")
    .action(async (name: string) => {
      const command = ctx.passthrough;
      if (!command?.length) throw badRequest('vm exec needs a command after --', `e.g. banger vm exec ${name} -- uname -a`);
      const client = await ctx.client();
      const status = await attach(await sshTarget(client, name), command, false);
      if (status !== 0) throw new ExitStatus(status);
    });

  vm.command('health')
    .description('Check that a VM answers over SSH')
    .argument('<name>')
    .action(async (name: string) => {
      const h = await (await ctx.client()).get<{ name: string; ok: boolean; sshMs?: number; error?: string }>(`/vms/${enc(name)}/health`);
      if (ctx.globals.json) printJson(ctx.io, h);
      else ctx.io.stdout.write(h.ok ? `${h.name}: healthy (ssh ${h.sshMs} ms)\n` : `${h.name}: unhealthy: ${h.error}\n`);
      if (!h.ok) throw new ExitStatus(1);
    });

  vm.command('ports').description('List listening ports in a VM').argument('<names...>').action(notAvailableYet('vm ports'));
  const ws = vm.command('workspace').description('Copy a git checkout in, and get changes back as a patch');
  ws.command('prepare').argument('<name>').argument('<path>').description('Copy a checkout into the VM').action(notAvailableYet('vm workspace prepare'));
  ws.command('export').argument('<name>').description('Write the guest changes as a patch').action(notAvailableYet('vm workspace export'));

  registerList(program.command('ps'), ctx);
}

function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) {
        stream.removeListener('data', onData);
        stream.pause();
        resolve(buf.split('\n')[0] ?? '');
      }
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(buf));
  });
}
