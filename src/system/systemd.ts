/** The bangerd systemd unit: a pure renderer, plus the few host operations `banger system` performs. */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { ApiClient } from '../api/client.js';
import { tryPing } from '../api/daemon-status.js';
import type { PingResult } from '../api/types.js';
import { resolveLayout } from '../config/paths.js';
import { runUnchecked, which, type RunResult } from './exec.js';
import { writeFileAtomic } from './atomic-file.js';
import { HELPER_RUNTIME_DIR, HELPER_SOCKET } from './root-helper/paths.js';

export const UNIT_NAME = 'bangerd.service';
export const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}`;
/** The root helper's unit (installed with --owner: the daemon then runs as the owner). */
export const HELPER_UNIT_NAME = 'bangerd-root.service';
export const HELPER_UNIT_PATH = `/etc/systemd/system/${HELPER_UNIT_NAME}`;
/**
 * What the root helper may ever hold: CAP_NET_ADMIN for the bridge, taps, nftables and ip_forward;
 * CAP_CHOWN to hand its socket to the owner; CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH to tell who is
 * connected (ss reads other users' /proc/<pid>/fd).
 */
export const HELPER_CAPABILITIES: readonly string[] = ['CAP_NET_ADMIN', 'CAP_CHOWN', 'CAP_SYS_PTRACE', 'CAP_DAC_READ_SEARCH'];
/** The hardening settings `banger doctor` checks in each unit. */
export const DAEMON_HARDENING: Readonly<Record<string, string>> = {
  NoNewPrivileges: 'yes',
  ProtectSystem: 'full',
  ProtectHome: 'read-only',
  RestrictSUIDSGID: 'yes',
  LockPersonality: 'yes',
  CapabilityBoundingSet: 'CAP_NET_BIND_SERVICE',
};
export const HELPER_HARDENING: Readonly<Record<string, string>> = {
  NoNewPrivileges: 'yes',
  ProtectSystem: 'strict',
  // read-only rather than yes: node and bangerd.js may live under a home directory (a checkout).
  ProtectHome: 'read-only',
  PrivateTmp: 'yes',
  RestrictSUIDSGID: 'yes',
  LockPersonality: 'yes',
  CapabilityBoundingSet: HELPER_CAPABILITIES.join(' '),
  RestrictAddressFamilies: 'AF_UNIX AF_NETLINK AF_INET AF_INET6',
};
/** Present only when systemd is the running init (sd_booted). */
export const SYSTEMD_RUNTIME_DIR = '/run/systemd/system';

const SYSTEM_LAYOUT = resolveLayout({ env: {}, system: true });
export const SYSTEM_SOCKET = SYSTEM_LAYOUT.socketPath;
export const SYSTEM_STATE_DIR = SYSTEM_LAYOUT.stateDir;
/** Run as root before the owner's daemon starts: /etc/banger/ssh_config becomes a link to the owner's copy. */
export const OWNED_SSH_CONFIG_LINK: readonly string[] = ['/bin/ln', '-sfn', `${SYSTEM_LAYOUT.stateDir}/ssh_config`, SYSTEM_LAYOUT.sshConfigPath];

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

/**
 * bangerd's unit. Without an owner it runs as root and does everything itself; with one it runs as
 * that user, holds no capability, and bridge mode's host operations go through the root helper.
 */
export function renderUnit(opts: UnitOptions): string {
  if (opts.owner !== undefined && !validUserName(opts.owner)) throw new TypeError(`invalid user name ${JSON.stringify(opts.owner)}`);
  const exec = [opts.nodePath, opts.bangerdScript, '--system'].map(quoteExecArg).join(' ');
  const owned = opts.owner !== undefined;
  return [
    '[Unit]',
    'Description=banger daemon (bangerd): development sandboxes on microVMs',
    owned ? `After=network.target ${HELPER_UNIT_NAME}` : 'After=network.target',
    ...(owned ? [`Wants=${HELPER_UNIT_NAME}`] : []),
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    ...(owned
      ? [
          `Environment=BANGER_OWNER=${opts.owner}`,
          `Environment=BANGER_HELPER_SOCKET=${HELPER_SOCKET}`,
          `User=${opts.owner}`,
          '# /etc/banger stays root\'s: the ssh_config the daemon keeps there is a link into its state directory.',
          `ExecStartPre=+${OWNED_SSH_CONFIG_LINK.map(quoteExecArg).join(' ')}`,
        ]
      : []),
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
    ...(owned
      ? [
          'RestrictSUIDSGID=yes',
          '# Taps, the bridge and nftables are the root helper\'s; the daemon may only bind low ports (guest DNS on the bridge, published ports).',
          'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
          'AmbientCapabilities=CAP_NET_BIND_SERVICE',
        ]
      : []),
    'PrivateTmp=no',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The root helper's unit: root, with only HELPER_CAPABILITIES, serving the owner on HELPER_SOCKET. */
export function renderHelperUnit(opts: UnitOptions & { owner: string }): string {
  if (!validUserName(opts.owner)) throw new TypeError(`invalid user name ${JSON.stringify(opts.owner)}`);
  const exec = [opts.nodePath, opts.bangerdScript, '--helper', '--owner', opts.owner, '--socket', HELPER_SOCKET].map(quoteExecArg).join(' ');
  return [
    '[Unit]',
    'Description=banger root helper: bridge, taps and nftables for bangerd',
    `Before=${UNIT_NAME}`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    'Restart=on-failure',
    'RestartSec=2s',
    `RuntimeDirectory=${basename(HELPER_RUNTIME_DIR)}`,
    'RuntimeDirectoryMode=0711',
    ...Object.entries(HELPER_HARDENING).map(([k, v]) => `${k}=${v}`),
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
/** With an owner: the helper first, then the daemon that uses it. */
export const SPLIT_INSTALL_COMMANDS: readonly (readonly string[])[] = [
  ['systemctl', 'daemon-reload'],
  ['systemctl', 'enable', '--now', HELPER_UNIT_NAME],
  ['systemctl', 'enable', '--now', UNIT_NAME],
];
export const HELPER_UNINSTALL_COMMAND: readonly string[] = ['systemctl', 'disable', '--now', HELPER_UNIT_NAME];

/** The settings of a unit file's text (the last value of each key). */
export function unitSettings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** The hardening settings `want` that `text` lacks or sets otherwise, as "Key=value" lines it should have. */
export function missingHardening(text: string, want: Readonly<Record<string, string>>): string[] {
  const have = unitSettings(text);
  return Object.entries(want)
    .filter(([k, v]) => have.get(k) !== v)
    .map(([k, v]) => `${k}=${v}`);
}
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
