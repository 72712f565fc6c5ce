/**
 * The fake VMM's command line: built by the driver, parsed by the VMM. Like QEMU's, it names the
 * control socket (`--control=<path>`, which identifies the process in /proc/<pid>/cmdline) and the VM
 * (`--name=banger-fake-<vmId>`, which ownProcesses looks for).
 *
 * @module
 */
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { VmmBehaviour } from './options.js';

export const VMM_NAME_PREFIX = 'banger-fake-';

/** Everything one VMM needs to know. */
export interface VmmConfig {
  vmId: string;
  controlSocket: string;
  consoleLog: string;
  kernelPath: string;
  /** The seed disk (ext4, BANGERSEED) that holds the guest's SSH host key and authorized keys. */
  seedDisk?: string;
  /** Where the guest's SSH is forwarded to on the host (user-mode networking). */
  ssh?: { host: string; port: number };
  behaviour: VmmBehaviour;
}

/** The argv element that marks the VMM serving this control socket. */
export function controlArg(socketPath: string): string {
  return `--control=${socketPath}`;
}

export function nameArg(vmId: string): string {
  return `--name=${VMM_NAME_PREFIX}${vmId}`;
}

/** The run directory a VMM keeps its files in: the directory of its control socket. */
export function runDirOf(cfg: Pick<VmmConfig, 'controlSocket'>): string {
  return dirname(cfg.controlSocket);
}

/** The full argv: the node binary, the VMM script, then the options. */
export function vmmArgv(node: string, script: string, cfg: VmmConfig): string[] {
  const b = cfg.behaviour;
  const argv = [node, script, nameArg(cfg.vmId), controlArg(cfg.controlSocket), `--console=${cfg.consoleLog}`, `--kernel=${cfg.kernelPath}`];
  if (cfg.seedDisk !== undefined) argv.push(`--seed=${cfg.seedDisk}`);
  if (cfg.ssh) argv.push(`--ssh=${cfg.ssh.host}:${cfg.ssh.port}`);
  if (b.bootDelayMs > 0) argv.push(`--boot-delay-ms=${b.bootDelayMs}`);
  if (!b.ssh) argv.push('--no-ssh');
  if (b.crashAfterMs !== undefined) argv.push(`--crash-after-ms=${b.crashAfterMs}`);
  if (b.ignorePowerdown) argv.push('--ignore-powerdown');
  for (const line of b.consoleLines ?? []) argv.push(`--console-line=${line}`);
  return argv;
}

/** Parses the options (argv after the script). Throws on anything malformed. */
export function parseVmmArgv(args: string[]): VmmConfig {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      name: { type: 'string' },
      control: { type: 'string' },
      console: { type: 'string' },
      kernel: { type: 'string' },
      seed: { type: 'string' },
      ssh: { type: 'string' },
      'boot-delay-ms': { type: 'string' },
      'no-ssh': { type: 'boolean' },
      'crash-after-ms': { type: 'string' },
      'ignore-powerdown': { type: 'boolean' },
      'console-line': { type: 'string', multiple: true },
    },
  });
  const need = (v: string | undefined, what: string): string => {
    if (!v) throw new Error(`missing --${what}`);
    return v;
  };
  const name = need(values.name, 'name');
  if (!name.startsWith(VMM_NAME_PREFIX)) throw new Error(`--name must start with ${VMM_NAME_PREFIX}`);
  const ms = (v: string | undefined, what: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${what} must be a whole number of ms`);
    return n;
  };
  const cfg: VmmConfig = {
    vmId: name.slice(VMM_NAME_PREFIX.length),
    controlSocket: need(values.control, 'control'),
    consoleLog: need(values.console, 'console'),
    kernelPath: need(values.kernel, 'kernel'),
    behaviour: {
      bootDelayMs: ms(values['boot-delay-ms'], 'boot-delay-ms') ?? 0,
      ssh: !values['no-ssh'],
      ignorePowerdown: values['ignore-powerdown'] ?? false,
    },
  };
  const crash = ms(values['crash-after-ms'], 'crash-after-ms');
  if (crash !== undefined) cfg.behaviour.crashAfterMs = crash;
  if (values['console-line']?.length) cfg.behaviour.consoleLines = values['console-line'];
  if (values.seed !== undefined) cfg.seedDisk = values.seed;
  if (values.ssh !== undefined) {
    const m = /^(.+):(\d{1,5})$/.exec(values.ssh);
    if (!m) throw new Error('--ssh must be host:port');
    cfg.ssh = { host: m[1]!, port: Number(m[2]) };
  }
  return cfg;
}
