/** Install commands for missing host packages, in the words of the host's package manager. */

export type HostPackage =
  | 'qemu'
  | 'qemu-img'
  | 'e2fsprogs'
  | 'iproute2'
  | 'nftables'
  | 'openssh-client'
  | 'mmdebstrap'
  | 'uidmap'
  | 'debian-archive-keyring';

type Family = 'debian' | 'fedora' | 'arch';

/** Package names per distribution family. Debian's are the reference (and what other hosts are told). */
const PACKAGES: Record<HostPackage, Partial<Record<Family, string[]>> & { debian: string[] }> = {
  qemu: { debian: ['qemu-system-x86', 'qemu-utils'], fedora: ['qemu-system-x86-core', 'qemu-img'], arch: ['qemu-system-x86', 'qemu-img'] },
  'qemu-img': { debian: ['qemu-utils'], fedora: ['qemu-img'], arch: ['qemu-img'] },
  e2fsprogs: { debian: ['e2fsprogs'], fedora: ['e2fsprogs'], arch: ['e2fsprogs'] },
  iproute2: { debian: ['iproute2'], fedora: ['iproute'], arch: ['iproute2'] },
  nftables: { debian: ['nftables'], fedora: ['nftables'], arch: ['nftables'] },
  'openssh-client': { debian: ['openssh-client'], fedora: ['openssh-clients'], arch: ['openssh'] },
  mmdebstrap: { debian: ['mmdebstrap'], fedora: ['mmdebstrap'], arch: ['mmdebstrap'] },
  uidmap: { debian: ['uidmap'], fedora: ['shadow-utils'], arch: ['shadow'] },
  'debian-archive-keyring': { debian: ['debian-archive-keyring'], arch: ['debian-archive-keyring'] },
};

export function distroFamily(osRelease: Record<string, string>): Family | undefined {
  const ids = [osRelease.ID ?? '', ...(osRelease.ID_LIKE ?? '').split(/\s+/)].map((s) => s.toLowerCase());
  if (ids.some((id) => id === 'debian' || id === 'ubuntu')) return 'debian';
  if (ids.some((id) => id === 'fedora' || id === 'rhel' || id === 'centos')) return 'fedora';
  if (ids.some((id) => id === 'arch' || id === 'archlinux')) return 'arch';
  return undefined;
}

/** The command that installs `pkgs` on this host, e.g. `apt-get install qemu-system-x86 qemu-utils`. */
export function installCommand(pkgs: readonly HostPackage[], host: { osRelease: Record<string, string>; uid: number }): string {
  const family = distroFamily(host.osRelease);
  const sudo = host.uid === 0 ? '' : 'sudo ';
  const names = (f: Family) => {
    const out: string[] = [];
    for (const p of pkgs) {
      const n = PACKAGES[p][f];
      if (!n) return undefined;
      for (const x of n) if (!out.includes(x)) out.push(x);
    }
    return out;
  };
  if (family === 'debian') return `${sudo}apt-get install ${names('debian')!.join(' ')}`;
  if (family === 'fedora') {
    const n = names('fedora');
    if (n) return `${sudo}dnf install ${n.join(' ')}`;
  }
  if (family === 'arch') {
    const n = names('arch');
    if (n) return `${sudo}pacman -S ${n.join(' ')}`;
  }
  return `install ${names('debian')!.join(' ')} (Debian package names) with your package manager`;
}
