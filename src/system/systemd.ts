/** The bangerd systemd unit: a pure renderer, plus the few host operations `banger system` performs. */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { ApiClient } from '../api/client.js';
import { tryPing } from '../api/daemon-status.js';
import type { PingResult } from '../api/types.js';
import { resolveLayout } from '../config/paths.js';
import { runUnchecked, which, type RunResult } from './exec.js';
import { writeFileAtomic } from './atomic-file.js';

export const UNIT_NAME = 'bangerd.service';
export const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}`;
/** Present only when systemd is the running init (sd_booted). */
export const SYSTEMD_RUNTIME_DIR = '/run/systemd/system';

const SYSTEM_LAYOUT = resolveLayout({ env: {}, system: true });
export const SYSTEM_SOCKET = SYSTEM_LAYOUT.socketPath;
export const SYSTEM_STATE_DIR = SYSTEM_LAYOUT.stateDir;

/** What `ProtectSystem=full` mounts read-only for the daemon and everything it starts (QEMU among them). */
export const PROTECTED_TREES: readonly string[] = ['/usr', '/boot', '/efi', '/etc'];
/** The one protected directory the daemon writes: /etc/banger (its ssh_config for `ssh <name>.vm`). */
export const UNIT_WRITABLE_PATHS: readonly string[] = [SYSTEM_LAYOUT.configDir];

export interface UnitOptions {
  /** Absolute path of the node binary. */
  nodePath: string;
  /** Absolute path of dist/bin/bangerd.js. */
  bangerdScript: string;
  /** The user the daemon serves (given to it as BANGER_OWNER). */
  owner?: string;
}

/** Quotes one ExecStart word for systemd: specifiers (%) and variables ($) are escaped, spaces quoted. */
export function quoteExecArg(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A user name as useradd accepts it. */
export function validUserName(name: string): boolean {
  return /^[a-z_][a-z0-9_-]{0,31}\$?$/i.test(name);
}

export function renderUnit(opts: UnitOptions): string {
  if (opts.owner !== undefined && !validUserName(opts.owner)) throw new TypeError(`invalid user name ${JSON.stringify(opts.owner)}`);
  const exec = [opts.nodePath, opts.bangerdScript, '--system'].map(quoteExecArg).join(' ');
  return [
    '[Unit]',
    'Description=banger daemon (bangerd): development sandboxes on microVMs',
    'After=network.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    ...(opts.owner ? [`Environment=BANGER_OWNER=${opts.owner}`] : []),
    'Restart=on-failure',
    'RestartSec=2s',
    '# Stop only bangerd itself: VMs keep running and are re-adopted when it starts again.',
    'KillMode=process',
    'RuntimeDirectory=banger',
    'RuntimeDirectoryMode=0755',
    'RuntimeDirectoryPreserve=yes',
    'StateDirectory=banger',
    'CacheDirectory=banger',
    'NoNewPrivileges=yes',
    '# /usr, /boot, /efi and /etc are read-only but for banger\'s own configuration directory.',
    'ProtectSystem=full',
    `ConfigurationDirectory=${basename(SYSTEM_LAYOUT.configDir)}`,
    `ReadWritePaths=${UNIT_WRITABLE_PATHS.join(' ')}`,
    'ProtectHome=read-only',
    'LockPersonality=yes',
    'PrivateTmp=no',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The systemctl invocations of each subcommand, in order. */
export const INSTALL_COMMANDS: readonly (readonly string[])[] = [
  ['systemctl', 'daemon-reload'],
  ['systemctl', 'enable', '--now', UNIT_NAME],
];
export const UNINSTALL_COMMANDS: readonly (readonly string[])[] = [
  ['systemctl', 'disable', '--now', UNIT_NAME],
  ['systemctl', 'daemon-reload'],
];

/** True when systemd runs this host and systemctl is on PATH. */
export function systemdPresent(opts: { runtimeDir?: string; path?: string } = {}): boolean {
  try {
    if (!statSync(opts.runtimeDir ?? SYSTEMD_RUNTIME_DIR).isDirectory()) return false;
  } catch {
    return false;
  }
  return which('systemctl', opts.path ?? process.env.PATH ?? '') !== undefined;
}

/** Whether `name` is a user on this host (NSS via getent, else /etc/passwd). */
export async function userExists(name: string): Promise<boolean> {
  if (!validUserName(name)) return false;
  if (which('getent')) {
    const r = await runUnchecked(['getent', 'passwd', name], { timeoutMs: 10_000 });
    return r.code === 0 && r.stdout.trim() !== '';
  }
  try {
    return readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.split(':')[0] === name);
  } catch {
    return false;
  }
}

/** Everything `banger system` does to the host, so tests can stand in for systemd. */
export interface SystemdHost {
  systemdPresent(): boolean;
  uid(): number;
  systemctl(args: string[]): Promise<RunResult>;
  exists(path: string): boolean;
  writeUnit(path: string, content: string): void;
  removeFile(path: string): void;
  removeTree(path: string): void;
  userExists(name: string): Promise<boolean>;
  /** Pings the system daemon; undefined when nothing answers. */
  ping(timeoutMs: number): Promise<PingResult | undefined>;
  sleep(ms: number): Promise<void>;
  now(): number;
}

export function hostSystemd(): SystemdHost {
  return {
    systemdPresent: () => systemdPresent(),
    uid: () => process.getuid?.() ?? 0,
    systemctl: (args) => runUnchecked(['systemctl', ...args], { timeoutMs: 90_000 }),
    exists: (p) => existsSync(p),
    writeUnit: (p, content) => writeFileAtomic(p, content, 0o644),
    removeFile: (p) => rmSync(p, { force: true }),
    removeTree: (p) => rmSync(p, { recursive: true, force: true }),
    userExists,
    ping: (timeoutMs) => tryPing(new ApiClient(SYSTEM_SOCKET), timeoutMs),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => Date.now(),
  };
}
