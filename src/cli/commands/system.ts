/** banger system install|status|restart|uninstall: bangerd as a systemd service. */
import type { Command } from 'commander';
import { BangerError, badRequest } from '../../api/errors.js';
import type { PingResult } from '../../api/types.js';
import type { RunResult } from '../../system/exec.js';
import {
  hostSystemd,
  HELPER_UNINSTALL_COMMAND,
  HELPER_UNIT_NAME,
  HELPER_UNIT_PATH,
  INSTALL_COMMANDS,
  renderHelperUnit,
  renderUnit,
  SPLIT_INSTALL_COMMANDS,
  SYSTEM_SOCKET,
  SYSTEM_STATE_DIR,
  UNINSTALL_COMMANDS,
  UNIT_NAME,
  UNIT_PATH,
  validUserName,
  type SystemdHost,
} from '../../system/systemd.js';
import type { CliContext } from '../context.js';
import { BANGERD_SCRIPT } from '../../sdk/daemon.js';
import { printJson } from '../render.js';

/** What install puts into ExecStart. */
export interface DaemonProgram {
  nodePath: string;
  bangerdScript: string;
}

/** Removed by uninstall --purge. */
export const PURGE_DIRS = [SYSTEM_STATE_DIR, '/var/cache/banger'];

const READY_TIMEOUT_MS = 15_000;

const NO_SYSTEMD_HINT = 'without systemd, the CLI starts bangerd on demand (or run bangerd --system under your own service manager); --dry-run shows the unit';

function requireSystemd(host: SystemdHost, what: string): void {
  if (!host.systemdPresent()) {
    throw new BangerError('unavailable', `${what} needs systemd, and this host does not run it (no /run/systemd/system or no systemctl)`, { hint: NO_SYSTEMD_HINT });
  }
}

function requireRoot(host: SystemdHost, what: string, hint: string): void {
  if (host.uid() !== 0) throw badRequest(`${what} needs root`, hint);
}

function commandLine(argv: readonly string[]): string {
  return argv.join(' ');
}

async function systemctl(host: SystemdHost, argv: readonly string[]): Promise<RunResult> {
  const r = await host.systemctl(argv.slice(1));
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join('\n');
    throw new BangerError('operation_failed', `${commandLine(argv)} failed${tail ? `: ${tail}` : ''}`, {
      hint: `systemctl status ${UNIT_NAME}; journalctl -u ${UNIT_NAME} -n 50`,
    });
  }
  return r;
}

async function waitReady(host: SystemdHost, timeoutMs = READY_TIMEOUT_MS): Promise<PingResult> {
  const deadline = host.now() + timeoutMs;
  for (;;) {
    const ping = await host.ping(1000);
    if (ping) return ping;
    if (host.now() >= deadline) break;
    await host.sleep(250);
  }
  throw new BangerError('unavailable', `bangerd did not answer on ${SYSTEM_SOCKET} within ${Math.round(timeoutMs / 1000)}s`, {
    hint: `systemctl status ${UNIT_NAME}; journalctl -u ${UNIT_NAME} -n 50`,
  });
}

export function registerSystem(
  program: Command,
  ctx: CliContext,
  host: SystemdHost = hostSystemd(),
  daemon: DaemonProgram = { nodePath: process.execPath, bangerdScript: BANGERD_SCRIPT },
): void {
  const system = program
    .command('system')
    .description('Run bangerd as a systemd service')
    .addHelpText(
      'after',
      `
With --owner, bangerd runs as that user with the system paths (/etc/banger,
/var/lib/banger, /run/banger) and a second unit, ${HELPER_UNIT_NAME}, runs the small root
helper that makes banger's bridge, taps and nftables tables for it. Without --owner,
bangerd runs as root. Stopping or restarting either leaves running VMs alone.

Examples:
  sudo banger system install --owner "$USER"   write, enable and start ${UNIT_NAME}
  banger system install --dry-run              print the unit and the commands, change nothing
  banger system status                         enabled/active state and whether bangerd answers
  sudo banger system uninstall --purge         remove the unit and /var/lib/banger`,
    );

  system
    .command('install')
    .description(`Write, enable and start ${UNIT_PATH}`)
    .option('--dry-run', 'print the unit and the commands it would run; change nothing')
    .option('--owner <user>', 'the user the daemon serves (passed to bangerd as BANGER_OWNER)')
    .action(async (opts: { dryRun?: boolean; owner?: string }) => {
      if (await ctx.delegate(['system', 'install', ...(opts.dryRun ? ['--dry-run'] : []), ...(opts.owner ? ['--owner', opts.owner] : [])])) return;
      const owner = opts.owner;
      if (owner !== undefined && !validUserName(owner)) throw badRequest(`invalid user name ${JSON.stringify(owner)}`, 'pass a login name, e.g. --owner "$USER"');
      const unit = renderUnit({ ...daemon, ...(owner ? { owner } : {}) });
      const helperUnit = owner ? renderHelperUnit({ ...daemon, owner }) : undefined;
      const commands = helperUnit ? SPLIT_INSTALL_COMMANDS : INSTALL_COMMANDS;
      if (opts.dryRun) {
        if (!host.systemdPresent()) ctx.note('note: this host does not run systemd; install would stop here');
        else if (host.uid() !== 0) ctx.note('note: install needs root (sudo)');
        if (ctx.globals.json) {
          printJson(ctx.io, { dryRun: true, unitPath: UNIT_PATH, unit, ...(helperUnit ? { helperUnitPath: HELPER_UNIT_PATH, helperUnit } : {}), commands, socket: SYSTEM_SOCKET });
          return;
        }
        ctx.io.stdout.write(
          (helperUnit ? `Would write ${HELPER_UNIT_PATH}:\n\n${helperUnit}\n` : '') +
            `Would write ${UNIT_PATH}:\n\n${unit}\nWould run:\n${commands.map((c) => `  ${commandLine(c)}\n`).join('')}` +
            `then wait up to ${READY_TIMEOUT_MS / 1000}s for bangerd to answer on ${SYSTEM_SOCKET}.\n`,
        );
        return;
      }
      requireSystemd(host, 'banger system install');
      requireRoot(host, 'banger system install', `sudo banger system install${owner ? ` --owner ${owner}` : ''}`);
      if (owner && !(await host.userExists(owner))) throw badRequest(`there is no user named ${owner}`, 'pass an existing login name to --owner');
      if (!host.exists(daemon.bangerdScript)) {
        throw new BangerError('bad_request', `${daemon.bangerdScript} does not exist`, { hint: 'build banger first (npm run build), then install again' });
      }
      if (helperUnit) host.writeUnit(HELPER_UNIT_PATH, helperUnit);
      host.writeUnit(UNIT_PATH, unit);
      for (const c of commands) await systemctl(host, c);
      const ping = await waitReady(host);
      if (ctx.globals.json) {
        printJson(ctx.io, { installed: true, unitPath: UNIT_PATH, daemon: ping });
        return;
      }
      ctx.io.stdout.write(`installed ${UNIT_PATH}; bangerd ${ping.version} is running (pid ${ping.pid}) on ${ping.socket}\n`);
    });

  system
    .command('status')
    .description('Show whether the unit is installed, enabled and active, and whether bangerd answers')
    .action(async () => {
      if (await ctx.delegate(['system', 'status'])) return;
      requireSystemd(host, 'banger system status');
      const installed = host.exists(UNIT_PATH);
      const helperInstalled = host.exists(HELPER_UNIT_PATH);
      const [enabled, active, ping, helperActive] = await Promise.all([
        host.systemctl(['is-enabled', UNIT_NAME]),
        host.systemctl(['is-active', UNIT_NAME]),
        host.ping(2000),
        helperInstalled ? host.systemctl(['is-active', HELPER_UNIT_NAME]) : undefined,
      ]);
      const word = (r: RunResult) => r.stdout.trim().split('\n')[0] || 'unknown';
      const helper = helperActive ? { unitPath: HELPER_UNIT_PATH, active: word(helperActive), ...(ping?.rootHelper ? { reachable: ping.rootHelper.reachable } : {}) } : undefined;
      if (ctx.globals.json) {
        printJson(ctx.io, { installed, unitPath: UNIT_PATH, enabled: word(enabled), active: word(active), socket: SYSTEM_SOCKET, daemon: ping ?? null, ...(helper ? { helper } : {}) });
        return;
      }
      ctx.io.stdout.write(
        [
          `unit:    ${UNIT_PATH}${installed ? '' : ' (not installed)'}`,
          `enabled: ${word(enabled)}`,
          `active:  ${word(active)}`,
          `daemon:  ${ping ? `running, bangerd ${ping.version} (pid ${ping.pid})` : 'not answering'} on ${SYSTEM_SOCKET}`,
          ...(helper
            ? [`helper:  ${HELPER_UNIT_NAME} ${helper.active}${helper.reachable === undefined ? '' : helper.reachable ? ', answering the daemon' : ', not answering the daemon'}`]
            : []),
        ].join('\n') + '\n',
      );
      if (!installed) ctx.note('hint: sudo banger system install --owner "$USER"');
    });

  system
    .command('restart')
    .description('Restart bangerd (running VMs keep running)')
    .action(async () => {
      if (await ctx.delegate(['system', 'restart'])) return;
      requireSystemd(host, 'banger system restart');
      requireRoot(host, 'banger system restart', 'sudo banger system restart');
      if (!host.exists(UNIT_PATH)) throw new BangerError('not_found', `${UNIT_NAME} is not installed`, { hint: 'sudo banger system install --owner "$USER"' });
      await systemctl(host, ['systemctl', 'restart', UNIT_NAME]);
      const ping = await waitReady(host);
      if (ctx.globals.json) printJson(ctx.io, { restarted: true, daemon: ping });
      else ctx.io.stdout.write(`bangerd ${ping.version} is running (pid ${ping.pid}) on ${ping.socket}\n`);
    });

  system
    .command('uninstall')
    .description('Stop, disable and remove the unit (VMs keep running; --purge also deletes all state)')
    .option('--purge', `also remove ${PURGE_DIRS.join(' and ')} (images, kernels, VM disks, the store)`)
    .option('--dry-run', 'print the commands it would run; change nothing')
    .action(async (opts: { purge?: boolean; dryRun?: boolean }) => {
      if (await ctx.delegate(['system', 'uninstall', ...(opts.purge ? ['--purge'] : []), ...(opts.dryRun ? ['--dry-run'] : [])])) return;
      const helperInstalled = host.exists(HELPER_UNIT_PATH);
      const steps = [
        commandLine(UNINSTALL_COMMANDS[0]!),
        `rm ${UNIT_PATH}`,
        ...(helperInstalled ? [commandLine(HELPER_UNINSTALL_COMMAND), `rm ${HELPER_UNIT_PATH}`] : []),
        commandLine(UNINSTALL_COMMANDS[1]!),
        ...(opts.purge ? PURGE_DIRS.map((d) => `rm -rf ${d}`) : []),
      ];
      if (opts.dryRun) {
        if (ctx.globals.json) printJson(ctx.io, { dryRun: true, steps });
        else ctx.io.stdout.write(`Would run:\n${steps.map((s) => `  ${s}\n`).join('')}`);
        return;
      }
      requireSystemd(host, 'banger system uninstall');
      requireRoot(host, 'banger system uninstall', `sudo banger system uninstall${opts.purge ? ' --purge' : ''}`);
      const installed = host.exists(UNIT_PATH);
      if (installed) {
        await systemctl(host, UNINSTALL_COMMANDS[0]!);
        host.removeFile(UNIT_PATH);
      }
      if (helperInstalled) {
        await systemctl(host, HELPER_UNINSTALL_COMMAND);
        host.removeFile(HELPER_UNIT_PATH);
      }
      if (installed || helperInstalled) await systemctl(host, UNINSTALL_COMMANDS[1]!);
      if (opts.purge) for (const d of PURGE_DIRS) host.removeTree(d);
      if (ctx.globals.json) {
        printJson(ctx.io, { uninstalled: installed, purged: Boolean(opts.purge) });
        return;
      }
      ctx.io.stdout.write(
        (installed ? `removed ${UNIT_NAME}\n` : `${UNIT_NAME} was not installed\n`) + (helperInstalled ? `removed ${HELPER_UNIT_NAME}\n` : '') + (opts.purge ? `removed ${PURGE_DIRS.join(' and ')}\n` : ''),
      );
      if (installed && !opts.purge) ctx.note('note: VMs that were running keep running; the state stays in /var/lib/banger');
    });
}
