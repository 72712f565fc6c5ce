/** Every configuration key, its type, default and validation. */
import { parseDuration } from './duration.js';
import { parseSize } from '../model/size.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface VMDefaults {
  vcpu?: number;
  memory_mib?: number;
  disk_size?: string;
  system_overlay_size?: string;
}

export interface FileSyncEntry {
  host: string;
  guest: string;
  mode?: string;
}

/** [egress]: defaults for VMs created without --allow. */
export interface EgressDefaults {
  /** Allowlist entries every new VM gets (bridge mode: nftables; user mode: its egress proxy); empty: no allowlist. */
  allow?: string[];
}

export interface Config {
  log_level: LogLevel;
  default_image_name: string;
  driver: 'auto' | 'qemu' | 'firecracker';
  accel: 'auto' | 'kvm' | 'tcg';
  qemu_bin: string;
  firecracker_bin: string;
  jailer_bin: string;
  jailer_enabled: boolean;
  jailer_chroot_base: string;
  jailer_uid: number;
  jailer_gid: number;
  ssh_key_path: string;
  ssh_wait_timeout: string;
  auto_stop_stale_after: string;
  stats_poll_interval: string;
  metrics_poll_interval: string;
  network_mode: 'auto' | 'user' | 'bridge';
  bridge_name: string;
  bridge_ip: string;
  cidr: number;
  tap_pool_size: number;
  isolate_vms: boolean;
  dns_upstream: string;
  default_dns: string;
  dns_listen_addr: string;
  web_listen_addr: string;
  image_catalog_url: string;
  kernel_catalog_url: string;
  debian_mirror: string;
  insecure_registries: string[];
  warm_pool: boolean;
  vm_defaults: VMDefaults;
  file_sync: FileSyncEntry[];
  egress: EgressDefaults;
}

/** A rule returns a problem description ("expected ...") or undefined when the value is fine. */
type Rule = (v: unknown) => string | undefined;

const str: Rule = (v) => (typeof v === 'string' ? undefined : 'expected a string');
const oneOf =
  (...vals: string[]): Rule =>
  (v) =>
    typeof v === 'string' && vals.includes(v) ? undefined : `expected one of ${vals.map((x) => `"${x}"`).join(', ')}`;
const catalogUrl: Rule = (v) =>
  typeof v === 'string' && (v === '' || v.startsWith('/') || /^https?:\/\/[^\s/]+/.test(v)) ? undefined : 'expected an http(s) URL, an absolute path, or "" for the built-in catalog';
const bool: Rule = (v) => (typeof v === 'boolean' ? undefined : 'expected true or false');
const intIn =
  (min: number, max: number): Rule =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? undefined
      : `expected a whole number from ${min} to ${max}`;
const duration: Rule = (v) =>
  typeof v === 'string' && parseDuration(v) !== undefined ? undefined : 'expected a duration such as "90s", "5m" or "24h" ("0" disables)';
const absOrEmpty: Rule = (v) =>
  typeof v === 'string' && (v === '' || v.startsWith('/') || v.startsWith('~/'))
    ? undefined
    : 'expected an absolute path (or ~/...)';
const ipv4: Rule = (v) =>
  typeof v === 'string' && /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(v) && v.split('.').every((o) => Number(o) <= 255)
    ? undefined
    : 'expected an IPv4 address such as "172.16.0.1"';
const hostPortOrEmpty: Rule = (v) =>
  typeof v === 'string' && (v === '' || /^[0-9.]+:\d{1,5}$/.test(v)) ? undefined : 'expected host:port such as "127.0.0.1:42069"';
/** The web UI listens on loopback only: 127.x.y.z:port. */
const loopbackHostPortOrEmpty: Rule = (v) => {
  if (v === '') return undefined;
  const m = typeof v === 'string' ? /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3}):(\d{1,5})$/.exec(v) : null;
  const ok = m !== null && m.slice(1, 4).every((o) => Number(o) <= 255) && Number(m[4]) >= 1 && Number(m[4]) <= 65535;
  return ok ? undefined : 'expected a loopback address and port such as "127.0.0.1:7777" (the web UI never listens on other addresses)';
};
const ifname: Rule = (v) =>
  typeof v === 'string' && /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,14}$/.test(v) ? undefined : 'expected an interface name of 1-15 letters, digits, - or _';
const size: Rule = (v) => {
  try {
    parseSize(v as string);
    return typeof v === 'string' || typeof v === 'number' ? undefined : 'expected a size such as "8G"';
  } catch {
    return 'expected a size such as "8G", "512MiB" (a bare number means MiB)';
  }
};

const registryList: Rule = (v) =>
  Array.isArray(v) && v.every((r) => typeof r === 'string' && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(r))
    ? undefined
    : 'expected a list of registries such as ["registry.lan:5000"]';

export interface FieldSpec {
  rule: Rule;
  default: unknown;
  env?: string;
  doc: string;
}

export const FIELDS: Record<Exclude<keyof Config, 'vm_defaults' | 'file_sync' | 'egress'>, FieldSpec> = {
  log_level: { rule: oneOf(...LOG_LEVELS), default: 'info', env: 'BANGER_LOG_LEVEL', doc: 'daemon log level' },
  default_image_name: { rule: str, default: 'debian-bookworm', doc: 'image used when --image is not given' },
  driver: { rule: oneOf('auto', 'qemu', 'firecracker'), default: 'auto', doc: 'hypervisor driver' },
  accel: {
    rule: oneOf('auto', 'kvm', 'tcg'),
    default: 'auto',
    doc: 'QEMU acceleration for new VMs: auto (KVM when a probe boot shows it works, else TCG), or kvm or tcg to insist on one (kvm refuses to start VMs where KVM does not work)',
  },
  qemu_bin: { rule: str, default: 'qemu-system-x86_64', doc: 'QEMU binary (name on PATH or absolute path)' },
  firecracker_bin: { rule: absOrEmpty, default: '', doc: 'firecracker binary (empty: found on PATH)' },
  jailer_bin: { rule: absOrEmpty, default: '/usr/bin/jailer', doc: 'jailer binary' },
  jailer_enabled: { rule: bool, default: true, doc: 'run firecracker under the jailer' },
  jailer_chroot_base: { rule: absOrEmpty, default: '', doc: 'jailer chroot base (empty: <state>/jail; on the same filesystem as the state directory)' },
  jailer_uid: { rule: intIn(0, 4294967294), default: 0, doc: 'uid the jailed firecracker runs as (0: bangerd\'s own)' },
  jailer_gid: { rule: intIn(0, 4294967294), default: 0, doc: 'gid the jailed firecracker runs as (0: bangerd\'s own)' },
  ssh_key_path: { rule: absOrEmpty, default: '', doc: 'client key (empty: <state>/ssh/id_ed25519, created on first use)' },
  ssh_wait_timeout: { rule: duration, default: '300s', doc: 'how long to wait for a new VM to answer SSH (a first boot that installs openssh-server gets 20 minutes more)' },
  auto_stop_stale_after: { rule: duration, default: '0', doc: 'stop VMs untouched for this long ("0" disables)' },
  stats_poll_interval: { rule: duration, default: '10s', doc: 'VM stats polling interval' },
  metrics_poll_interval: { rule: duration, default: '30s', doc: 'firecracker metrics polling interval' },
  network_mode: { rule: oneOf('auto', 'user', 'bridge'), default: 'auto', doc: 'VM networking: user-mode (no root; what auto picks) or bridge (root)' },
  bridge_name: { rule: ifname, default: 'banger0', doc: 'host bridge for bridge mode' },
  bridge_ip: { rule: ipv4, default: '172.16.0.1', doc: 'bridge address' },
  cidr: { rule: intIn(8, 30), default: 24, doc: 'bridge network prefix length' },
  tap_pool_size: { rule: intIn(0, 64), default: 4, doc: 'ready tap devices kept for bridge-mode starts' },
  isolate_vms: { rule: bool, default: true, doc: 'bridge mode: VMs cannot reach each other' },
  dns_upstream: { rule: hostPortOrEmpty, default: '', doc: 'resolver banger forwards allowed names to (empty: the first nameserver of /etc/resolv.conf)' },
  default_dns: { rule: ipv4, default: '1.1.1.1', doc: 'resolver written to guests' },
  dns_listen_addr: { rule: hostPortOrEmpty, default: '127.0.0.1:42069', doc: 'DNS server for <name>.vm, UDP and TCP (empty: off)' },
  web_listen_addr: { rule: loopbackHostPortOrEmpty, default: '', doc: 'web UI address, loopback only, e.g. "127.0.0.1:7777" (empty: off); banger web prints its URL' },
  image_catalog_url: { rule: catalogUrl, default: '', doc: 'image catalog to use instead of the built-in one (http(s) URL or absolute path; empty: built in)' },
  kernel_catalog_url: { rule: catalogUrl, default: '', doc: 'kernel catalog to use instead of the built-in one (http(s) URL or absolute path; empty: built in)' },
  debian_mirror: { rule: str, default: 'http://deb.debian.org/debian', doc: 'Debian mirror for image builds' },
  warm_pool: {
    rule: bool,
    default: true,
    doc: 'keep a booted-and-saved template per image and machine shape that vm run/create restore from (qemu in user-mode networking, firecracker in bridge mode)',
  },
  insecure_registries: {
    rule: registryList,
    default: [],
    doc: 'OCI registries (host[:port]) reached over plain HTTP; loopback registries always are',
  },
};

export const VM_DEFAULT_FIELDS: Record<keyof VMDefaults, Rule> = {
  vcpu: intIn(1, 64),
  memory_mib: intIn(128, 1024 * 1024),
  disk_size: size,
  system_overlay_size: size,
};

export const FILE_SYNC_FIELDS: Record<keyof FileSyncEntry, Rule> = {
  host: (v) =>
    typeof v === 'string' && (v.startsWith('/') || v.startsWith('~/')) && !v.split('/').includes('..')
      ? undefined
      : 'expected an absolute host path or ~/... (no "..")',
  guest: (v) =>
    typeof v === 'string' && /^(~|\/root)\/[^/]/.test(v) && !v.split('/').includes('..')
      ? undefined
      : 'expected a guest path under ~/ or /root/ (no "..")',
  mode: (v) => (typeof v === 'string' && /^0?[0-7]{3}$/.test(v) ? undefined : 'expected an octal mode such as "0600"'),
};

/**
 * Keys that are accepted and validated but that nothing reads yet, each with what is missing. `config show` marks
 * them "(not in effect yet)". Remove a key from here in the change that starts reading it.
 */
export const NOT_IN_EFFECT: Readonly<Record<string, string>> = {
  auto_stop_stale_after: 'VMs are not stopped automatically yet',
  stats_poll_interval: 'stats are read when asked, not polled',
  metrics_poll_interval: 'firecracker metrics are read when asked, not polled',
  default_dns: 'guests use the resolver of their network mode (banger\'s DNS in bridge mode)',
};

export function inEffect(key: string): boolean {
  return !(key in NOT_IN_EFFECT);
}
