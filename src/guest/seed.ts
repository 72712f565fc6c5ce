/**
 * The per-VM seed disk: a small read-only ext4 labelled BANGERSEED, made with `mkfs.ext4 -d`
 * (no mount, no root). The guest's banger-seed unit applies it early in boot.
 *
 * Files at the root of the filesystem (all optional except version):
 *   version                      seed format number ("1")
 *   hostname                     one DNS label -> /etc/hostname and the kernel hostname
 *   hosts                        -> /etc/hosts
 *   authorized_keys              -> /root/.ssh/authorized_keys (dir 0700, file 0600, root-owned)
 *   ssh_host_ed25519_key(.pub)   -> /etc/ssh/ (0600 / 0644)
 *   network.conf                 key=value lines: MODE=dhcp|static, and for static ADDRESS=, PREFIX=, GATEWAY=
 *                                -> /run/systemd/network/10-banger.network (static also gets DNS= from resolv.conf)
 *   resolv.conf                  nameserver lines -> /etc/resolv.conf
 *   proxy                        http://ADDRESS:PORT -> http_proxy/https_proxy (and upper case, with
 *                                no_proxy for loopback) in a marked block of /etc/environment, and
 *                                apt's proxy; without it both are removed
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { badRequest } from '../api/errors.js';
import { mkfsFromDir } from '../drivers/ext4/index.js';
import { SEED_FORMAT_VERSION, SEED_LABEL } from './seed-script.js';

export type SeedNetwork = { mode: 'dhcp' } | { mode: 'static'; address: string; prefix: number; gateway: string };

export interface SeedConfig {
  hostname: string;
  authorizedKeys: string[];
  hostKey: { privateKey: string; publicKey: string };
  network: SeedNetwork;
  nameservers: string[];
  /** The guest's HTTP(S) proxy (user mode: banger's egress proxy), as http://IPv4:port. */
  proxy?: string;
}

export const SEED_DISK_BYTES = 8 * 1024 * 1024;

const KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
];

export function isIPv4(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return !!m && m.slice(1).every((o) => Number(o) <= 255 && String(Number(o)) === o);
}

function isIPv6(s: string): boolean {
  return /^[0-9a-fA-F:]+$/.test(s) && s.includes(':') && s.length <= 39;
}

export function isDnsLabel(s: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(s);
}

function isPublicKeyLine(line: string, types = KEY_TYPES): boolean {
  const trimmed = line.trim();
  if (/[\r\n\0]/.test(trimmed)) return false;
  const [type, blob] = trimmed.split(/\s+/);
  return !!type && types.includes(type) && !!blob && /^[A-Za-z0-9+/]+={0,3}$/.test(blob);
}

/** Returns every problem with a seed configuration (empty when it is fine). */
export function seedProblems(seed: SeedConfig): string[] {
  const p: string[] = [];
  if (!isDnsLabel(seed.hostname)) p.push(`hostname ${JSON.stringify(seed.hostname)} is not a DNS label (a-z, 0-9, '-', at most 63)`);
  if (seed.authorizedKeys.length === 0) p.push('at least one authorized key is required');
  seed.authorizedKeys.forEach((k, i) => {
    if (!isPublicKeyLine(k)) p.push(`authorized key ${i + 1} is not a single OpenSSH public key line`);
  });
  const priv = seed.hostKey.privateKey.trim();
  if (!priv.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----') || !priv.endsWith('-----END OPENSSH PRIVATE KEY-----')) {
    p.push('host private key is not an OpenSSH private key');
  }
  if (!isPublicKeyLine(seed.hostKey.publicKey, ['ssh-ed25519'])) p.push('host public key is not an ssh-ed25519 public key line');
  if (seed.network.mode === 'static') {
    const n = seed.network;
    if (!isIPv4(n.address)) p.push(`address ${JSON.stringify(n.address)} is not an IPv4 address`);
    if (!Number.isInteger(n.prefix) || n.prefix < 1 || n.prefix > 32) p.push(`prefix ${n.prefix} is not 1-32`);
    if (!isIPv4(n.gateway)) p.push(`gateway ${JSON.stringify(n.gateway)} is not an IPv4 address`);
  } else if (seed.network.mode !== 'dhcp') {
    p.push(`network mode ${JSON.stringify((seed.network as { mode: unknown }).mode)} is not dhcp or static`);
  }
  for (const ns of seed.nameservers) if (!isIPv4(ns) && !isIPv6(ns)) p.push(`nameserver ${JSON.stringify(ns)} is not an IP address`);
  if (seed.proxy !== undefined) {
    const m = /^http:\/\/([0-9.]+):(\d{1,5})$/.exec(seed.proxy);
    if (!m || !isIPv4(m[1]!) || Number(m[2]) < 1 || Number(m[2]) > 65535) p.push(`proxy ${JSON.stringify(seed.proxy)} is not http://IPv4:port`);
  }
  return p;
}

export interface SeedFile {
  name: string;
  content: string;
  mode: number;
}

/** The files of a seed disk, after validation. */
export function renderSeedFiles(seed: SeedConfig): SeedFile[] {
  const problems = seedProblems(seed);
  if (problems.length > 0) throw badRequest(`invalid VM seed: ${problems.join('; ')}`);
  const line = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  const net =
    seed.network.mode === 'static'
      ? `MODE=static\nADDRESS=${seed.network.address}\nPREFIX=${seed.network.prefix}\nGATEWAY=${seed.network.gateway}\n`
      : 'MODE=dhcp\n';
  const files: SeedFile[] = [
    { name: 'version', content: `${SEED_FORMAT_VERSION}\n`, mode: 0o644 },
    { name: 'hostname', content: `${seed.hostname}\n`, mode: 0o644 },
    {
      name: 'hosts',
      content: `127.0.0.1\tlocalhost\n127.0.1.1\t${seed.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`,
      mode: 0o644,
    },
    { name: 'authorized_keys', content: seed.authorizedKeys.map((k) => k.trim()).join('\n') + '\n', mode: 0o600 },
    { name: 'ssh_host_ed25519_key', content: line(seed.hostKey.privateKey.trim()), mode: 0o600 },
    { name: 'ssh_host_ed25519_key.pub', content: line(seed.hostKey.publicKey.trim()), mode: 0o644 },
    { name: 'network.conf', content: net, mode: 0o644 },
  ];
  if (seed.nameservers.length > 0) {
    files.push({ name: 'resolv.conf', content: seed.nameservers.map((n) => `nameserver ${n}\n`).join(''), mode: 0o644 });
  }
  if (seed.proxy !== undefined) files.push({ name: 'proxy', content: `${seed.proxy}\n`, mode: 0o644 });
  return files;
}

/** Builds the seed disk at path (replacing it), readable only by its owner on the host. */
export async function buildSeedDisk(path: string, seed: SeedConfig, signal?: AbortSignal): Promise<void> {
  const files = renderSeedFiles(seed);
  const dir = await mkdtemp(join(tmpdir(), 'banger-seed-'));
  try {
    await chmod(dir, 0o755);
    for (const f of files) {
      await writeFile(join(dir, f.name), f.content, { mode: f.mode });
      await chmod(join(dir, f.name), f.mode);
    }
    await mkfsFromDir(path, dir, { label: SEED_LABEL, sizeBytes: SEED_DISK_BYTES, noJournal: true, signal });
    await chmod(path, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
