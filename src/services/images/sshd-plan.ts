/**
 * How an image that lacks openssh-server (or an init system) gets it: the distro's package manager,
 * chosen from /etc/os-release ID and ID_LIKE, and the mirror hosts it fetches from, read from the
 * image's own package sources. `image pull` states the plan; a VM's first boot runs it.
 */
import { unavailable } from '../../api/errors.js';

export type PackageManager = 'apt' | 'apk' | 'dnf' | 'pacman' | 'zypper';

export interface OsRelease {
  id: string;
  idLike: string[];
  prettyName?: string;
}

export interface InstallPlan {
  manager: PackageManager;
  /** The distro family that chose the manager (the ID or the ID_LIKE entry that matched). */
  via: string;
  packages: string[];
  /** Commands run in order inside the guest, as argv arrays. */
  commands: string[][];
  /** Where the package manager's sources live in the image: exact paths, or `DIR/*.EXT`. */
  sources: string[];
  /** The mirror hosts used when the image's sources name none. */
  defaultHosts: string[];
}

/** Parses os-release text (KEY=value lines, values optionally quoted, as os-release(5) describes). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    const q = v[0];
    if ((q === '"' || q === "'") && v.endsWith(q) && v.length >= 2) {
      v = v.slice(1, -1);
      if (q === '"') v = v.replace(/\\(["\\`$])/g, '$1');
    }
    out[m[1]!] = v;
  }
  return out;
}

export function osReleaseOf(text: string): OsRelease {
  const kv = parseOsRelease(text);
  const r: OsRelease = { id: (kv.ID ?? '').toLowerCase(), idLike: (kv.ID_LIKE ?? '').toLowerCase().split(/\s+/).filter(Boolean) };
  if (kv.PRETTY_NAME) r.prettyName = kv.PRETTY_NAME;
  return r;
}

interface Family {
  manager: PackageManager;
  ids: readonly string[];
  sshd: string;
  init: string[];
  commands: (pkgs: string[]) => string[][];
  sources: string[];
  defaultHosts: Record<string, string[]> & { '*': string[] };
}

const APT_SOURCES = ['/etc/apt/sources.list', '/etc/apt/sources.list.d/*.list', '/etc/apt/sources.list.d/*.sources'];

const FAMILIES: readonly Family[] = [
  {
    manager: 'apt',
    ids: ['debian', 'ubuntu'],
    sshd: 'openssh-server',
    init: ['systemd', 'systemd-sysv'],
    commands: (p) => [['apt-get', 'update'], ['apt-get', 'install', '-y', '--no-install-recommends', ...p]],
    sources: APT_SOURCES,
    defaultHosts: { '*': ['deb.debian.org'], ubuntu: ['archive.ubuntu.com', 'security.ubuntu.com'] },
  },
  {
    manager: 'apk', ids: ['alpine'], sshd: 'openssh-server', init: ['openrc'], commands: (p) => [['apk', 'add', '--no-cache', ...p]],
    sources: ['/etc/apk/repositories'], defaultHosts: { '*': ['dl-cdn.alpinelinux.org'] },
  },
  {
    manager: 'dnf', ids: ['fedora', 'rhel', 'centos'], sshd: 'openssh-server', init: ['systemd'], commands: (p) => [['dnf', 'install', '-y', ...p]],
    sources: ['/etc/yum.repos.d/*.repo'], defaultHosts: { '*': ['mirrors.fedoraproject.org'] },
  },
  {
    manager: 'pacman', ids: ['arch', 'archlinux'], sshd: 'openssh', init: ['systemd', 'systemd-sysvcompat'], commands: (p) => [['pacman', '-Sy', '--noconfirm', '--needed', ...p]],
    sources: ['/etc/pacman.d/mirrorlist'], defaultHosts: { '*': ['geo.mirror.pkgbuild.com'] },
  },
  {
    manager: 'zypper',
    ids: ['opensuse', 'suse', 'sles', 'opensuse-leap', 'opensuse-tumbleweed'],
    sshd: 'openssh-server',
    init: ['systemd', 'systemd-sysvinit'],
    commands: (p) => [['zypper', '--non-interactive', 'install', ...p]],
    sources: ['/etc/zypp/repos.d/*.repo'],
    defaultHosts: { '*': ['download.opensuse.org'] },
  },
];

/**
 * The plan for an image: its ID first, then each ID_LIKE entry in order. `needsInit` adds the init
 * system's packages. An unknown distro is unavailable, naming what it found.
 */
export function installPlan(os: OsRelease | undefined, needs: { sshd: boolean; init: boolean }): InstallPlan {
  if (!os || os.id === '') {
    throw unavailable('the image has no /etc/os-release (or no ID in it), so banger cannot tell which package manager would install openssh-server', 'add openssh-server and an init system to the image yourself (e.g. in its Dockerfile)');
  }
  for (const candidate of [os.id, ...os.idLike]) {
    const f = FAMILIES.find((fam) => fam.ids.includes(candidate));
    if (!f) continue;
    const packages = [...(needs.sshd ? [f.sshd] : []), ...(needs.init ? f.init : [])];
    return {
      manager: f.manager, via: candidate, packages, commands: packages.length > 0 ? f.commands(packages) : [],
      sources: f.sources, defaultHosts: f.defaultHosts[candidate] ?? f.defaultHosts['*'],
    };
  }
  throw unavailable(
    `banger does not know how to install openssh-server on ${os.prettyName ?? os.id} (ID=${os.id}${os.idLike.length > 0 ? `, ID_LIKE=${os.idLike.join(' ')}` : ''})`,
    'banger knows debian/ubuntu (apt), alpine (apk), fedora/rhel (dnf), arch (pacman) and opensuse (zypper); add openssh-server to the image yourself',
  );
}

/** One line for the user: what would be installed and with what. */
export function describePlan(plan: InstallPlan): string {
  return plan.commands.map((c) => c.join(' ')).join(' && ');
}

/** Whether an image path is one of the plan's source files (`DIR/*.EXT` matches files directly in DIR). */
export function isSourceFile(plan: Pick<InstallPlan, 'sources'>, path: string): boolean {
  return plan.sources.some((pat) => {
    const star = pat.indexOf('/*');
    if (star < 0) return pat === path;
    const dir = pat.slice(0, star + 1);
    return path.startsWith(dir) && !path.slice(dir.length).includes('/') && path.endsWith(pat.slice(star + 2));
  });
}

/**
 * The mirror hosts the plan's package manager fetches from: every http(s)/ftp host named on an
 * uncommented line of the image's source files (apt one-line and deb822 `URIs:`, apk repositories,
 * `baseurl=`/`metalink=`, `Server =`), else the family's default mirror.
 */
export function mirrorHosts(plan: Pick<InstallPlan, 'defaultHosts'>, sourceTexts: readonly string[]): string[] {
  const hosts = new Set<string>();
  for (const text of sourceTexts) {
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line.startsWith('#') || line.startsWith(';')) continue;
      for (const m of line.matchAll(/\b(?:https?|ftp):\/\/(?:[^@/\s]*@)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)/g)) {
        const host = m[1]!.toLowerCase().replace(/\.$/, '');
        if (host !== '' && !host.startsWith('.')) hosts.add(host);
      }
    }
  }
  return hosts.size > 0 ? [...hosts].sort() : [...plan.defaultHosts];
}
