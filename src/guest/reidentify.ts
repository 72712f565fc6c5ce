/**
 * The script that gives a restored guest its own identity before anyone may use it: hostname, SSH host
 * key (banger generated and pinned it), host entropy mixed into the kernel's pool, and the clock. It runs
 * as root through `sh -s` on the restore's identity connection, in that one round trip, and prints
 * IDENTITY_OK once the files are in place. sshd is not restarted: OpenSSH re-executes itself for every
 * connection and that child reads the host key files afresh, so the next connection is served the new key.
 * The host proves it with a fresh handshake against the new, pinned key; an sshd that keeps its keys in
 * memory fails that check, and then gets SSHD_RELOAD_SCRIPT over the identity connection and a second check.
 *
 * Why that connection is safe although it authenticates the guest by the snapshot's host key: it goes to
 * the loopback address and port that this restore's own hypervisor process has just bound for this VM (no
 * other VM, and no other process, can answer there), it is checked against a one-off known_hosts holding
 * only the snapshot's key (never banger's pinned known_hosts, never ssh_config, no shared connection), and
 * the VM is not `running`, not in ssh_config and not reported ready until this script has replaced the key
 * and a fresh handshake has verified the new one. The snapshot's key thus authenticates nothing after the
 * restore; the source VM is re-keyed when the snapshot is taken, so no running VM keeps serving it.
 *
 * @module
 */
import { badRequest } from '../api/errors.js';
import { isDnsLabel } from './seed.js';
import { HOST_KEY_PATH } from './sshd.js';

export const IDENTITY_OK = 'banger-identity-ok';

export interface GuestIdentity {
  hostname: string;
  hostKey: { privateKey: string; publicKey: string };
  /** Random bytes from the host, mixed into the guest's pool through /dev/urandom. */
  entropy: Buffer;
  /** The host's clock, to set the guest's to. */
  now: Date;
}

/**
 * Makes a running sshd serve the key files on disk (for an sshd that does not re-read them per
 * connection): a restart of ssh.service (sessions survive it, KillMode=process), else SIGHUP to the
 * listener, which re-executes it. Prints IDENTITY_OK once done.
 */
export const SSHD_RELOAD_SCRIPT = `systemctl restart ssh.service 2>/dev/null || kill -HUP "$(cat /run/sshd.pid)"
echo ${IDENTITY_OK}
`;

const PRIVATE_KEY = /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----$/;
const PUBLIC_KEY = /^ssh-ed25519 [A-Za-z0-9+/]+={0,3}( [A-Za-z0-9@._-]+)?$/;

/** Every byte as a three-digit octal escape, which printf turns back into the bytes (no program started). */
function octal(bytes: Buffer): string {
  return [...bytes].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
}

/**
 * A script as one word of the guest channel's `identity` command: letters, digits and _ . / : = @ + -
 * stay, every other byte becomes `\0NNN`, which the guest's printf %b turns back (no program started).
 */
export function channelWord(script: string): string {
  return [...Buffer.from(script)].map((b) => (SAFE_BYTE.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `\\0${b.toString(8).padStart(3, '0')}`)).join('');
}
const SAFE_BYTE = /^[A-Za-z0-9_./:=@+-]$/;

/** The host key's lines, refused when they could break out of the script. */
function checkedKey(hostKey: GuestIdentity['hostKey']): { priv: string; pub: string } {
  const priv = hostKey.privateKey.trim();
  const pub = hostKey.publicKey.trim();
  if (!PRIVATE_KEY.test(priv)) throw badRequest('host private key is not an OpenSSH private key');
  if (!PUBLIC_KEY.test(pub)) throw badRequest('host public key is not an ssh-ed25519 public key line');
  return { priv, pub };
}

function checkedEntropy(entropy: Buffer): Buffer {
  if (entropy.length < 32) throw badRequest('at least 32 bytes of entropy are needed');
  return entropy;
}

/** The lines that write the host key pair, each file to `target(path)`. */
function keyWrites(key: { priv: string; pub: string }, target: (path: string) => string): string {
  return `umask 022
printf '%s\\n' '${key.pub}' > ${target(`${HOST_KEY_PATH}.pub`)}
umask 077
printf '%s\\n' ${key.priv.split('\n').map((l) => `'${l}'`).join(' ')} > ${target(HOST_KEY_PATH)}
`;
}

const renamed = (paths: string[]) => paths.map((p) => `mv -f ${p}.banger-new ${p}\n`).join('');

/**
 * `inPlace`: the files are written where they belong, not beside them and renamed (four programs fewer
 * in an emulated guest); only for a guest nothing talks to yet, a restore's identity over the guest channel.
 */
export function reidentifyScript(id: GuestIdentity, opts: { inPlace?: boolean } = {}): string {
  if (!isDnsLabel(id.hostname)) throw badRequest(`hostname ${JSON.stringify(id.hostname)} is not a DNS label`);
  const key = checkedKey(id.hostKey);
  const entropy = checkedEntropy(id.entropy);
  const ms = id.now.getTime();
  const clock = `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`;
  const name = id.hostname;
  const staged = (path: string) => (opts.inPlace ? path : `${path}.banger-new`);
  const renames = opts.inPlace ? '' : renamed(['/etc/hostname', '/etc/hosts', HOST_KEY_PATH, `${HOST_KEY_PATH}.pub`]);
  return `set -eu
# entropy first: nothing below should run on the snapshot's random state
printf '${octal(entropy)}' > /dev/urandom
date -u -s @${clock} >/dev/null
# shell builtins where they do (each program started costs time in an emulated guest)
printf '%s' '${name}' > /proc/sys/kernel/hostname
umask 022
printf '%s\\n' '${name}' > ${staged('/etc/hostname')}
printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n::1\\tlocalhost ip6-localhost ip6-loopback\\nff02::1\\tip6-allnodes\\nff02::2\\tip6-allrouters\\n' '${name}' > ${staged('/etc/hosts')}
${keyWrites(key, staged)}${renames}echo ${IDENTITY_OK}
`;
}

/**
 * The script that moves a running guest (the source of a snapshot) to a new host key: host entropy
 * mixed in, the key pair written beside the old one and renamed over it (a connection arriving
 * meanwhile reads one whole key or the other). Its hostname and clock are its own already and stay;
 * two programs started (mv), where the restore's identity needs five. Prints IDENTITY_OK.
 */
export function rekeyScript(id: Pick<GuestIdentity, 'hostKey' | 'entropy'>): string {
  const key = checkedKey(id.hostKey);
  return `set -eu
printf '${octal(checkedEntropy(id.entropy))}' > /dev/urandom
${keyWrites(key, (path) => `${path}.banger-new`)}${renamed([HOST_KEY_PATH, `${HOST_KEY_PATH}.pub`])}echo ${IDENTITY_OK}
`;
}
