/**
 * Subordinate user and group ids (/etc/subuid, /etc/subgid) and what else an unprivileged user needs
 * to run programs in a user namespace with many ids mapped (mmdebstrap --mode=unshare): newuidmap,
 * newgidmap and user namespaces the kernel allows. Reads files only; spawns nothing.
 */
import { readFileSync } from 'node:fs';

export interface SubidRange {
  start: number;
  count: number;
}

/** The ranges a subuid/subgid file gives a user, in file order, matched by name or (when given) by numeric uid. */
export function subidRanges(text: string, user: { name: string; uid?: number }): SubidRange[] {
  const out: SubidRange[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const f = t.split(':');
    if (f.length !== 3) continue;
    const [who, start, count] = f as [string, string, string];
    if (who !== user.name && (user.uid === undefined || who !== String(user.uid))) continue;
    if (!/^\d+$/.test(start) || !/^\d+$/.test(count)) continue;
    const r = { start: Number(start), count: Number(count) };
    if (r.count > 0) out.push(r);
  }
  return out;
}

/** The ranges as shadow's tools print them: 100000-165535. */
export function formatRanges(ranges: readonly SubidRange[]): string {
  return ranges.map((r) => `${r.start}-${r.start + r.count - 1}`).join(', ');
}

/** Ids a chroot of a Debian system uses (root, system users, nobody at 65534) need 65536 ids. */
export const NEEDED_IDS = 65536;

export interface UsernsHost {
  /** /etc/subuid and /etc/subgid (undefined: unreadable or missing). */
  subuid: string | undefined;
  subgid: string | undefined;
  /** Finds an executable on PATH. */
  which(cmd: string): string | undefined;
  /** A /proc/sys value (trimmed), undefined when the file does not exist. */
  sysctl(name: string): string | undefined;
  /**
   * Whether the process that would build runs with no_new_privs (systemd's NoNewPrivileges=yes):
   * then setuid newuidmap/newgidmap gain nothing and cannot write the id maps.
   */
  noNewPrivs?: boolean;
}

export interface UsernsReadiness {
  ready: boolean;
  /** What was found, for doctor and logs. */
  details: string[];
  /** What is missing, one sentence each. */
  problems: string[];
  /** Commands that fix the problems. */
  hints: string[];
}

/**
 * The first id (at least 100000, where useradd starts) after every range in both files: a range
 * of NEEDED_IDS there overlaps no other user's subordinate uids or gids.
 */
export function freeSubidStart(subuid: string | undefined, subgid: string | undefined): number {
  let end = 100000;
  for (const text of [subuid ?? '', subgid ?? '']) {
    for (const line of text.split('\n')) {
      const [, start, count] = line.trim().split(':');
      if (start && count && /^\d+$/.test(start) && /^\d+$/.test(count)) end = Math.max(end, Number(start) + Number(count));
    }
  }
  return end;
}

/** The usermod command that gives a user a range of 65536 subordinate ids no other user has in either file. */
export function addSubidsCommand(userName: string, subuid: string | undefined, subgid: string | undefined): string {
  const start = freeSubidStart(subuid, subgid);
  const range = `${start}-${start + NEEDED_IDS - 1}`;
  return `sudo usermod --add-subuids ${range} --add-subgids ${range} ${userName}`;
}

/** Whether `user` can map a full id range into a user namespace. */
export function usernsReadiness(user: { name: string }, host: UsernsHost): UsernsReadiness {
  const details: string[] = [];
  const problems: string[] = [];
  const hints: string[] = [];
  // mmdebstrap maps the first range listed under the user's name (not a numeric uid) and needs all of it.
  const need = (which: 'subuid' | 'subgid', text: string | undefined): void => {
    const path = `/etc/${which}`;
    const first = text === undefined ? undefined : subidRanges(text, { name: user.name })[0];
    if (text === undefined) problems.push(`${path} is missing or unreadable`);
    else if (!first) problems.push(`${user.name} has no range in ${path}`);
    else if (first.count < NEEDED_IDS) problems.push(`${user.name}'s first range in ${path} (${formatRanges([first])}) has ${first.count} ids; mmdebstrap needs ${NEEDED_IDS}`);
    else details.push(`${which} ${formatRanges([first])}`);
  };
  need('subuid', host.subuid);
  need('subgid', host.subgid);
  if (problems.length > 0) hints.push(addSubidsCommand(user.name, host.subuid, host.subgid));
  const tools = ['newuidmap', 'newgidmap'].map((t) => [t, host.which(t)] as const);
  const missingTools = tools.filter(([, p]) => !p).map(([t]) => t);
  if (missingTools.length > 0) {
    problems.push(`${missingTools.join(' and ')} not found`);
    hints.push('sudo apt-get install uidmap');
  } else {
    details.push(tools.map(([, p]) => p).join(', '));
  }
  if (host.noNewPrivs) {
    problems.push('bangerd runs with no_new_privs (NoNewPrivileges=yes in its systemd unit), so the setuid newuidmap and newgidmap cannot map the ids');
    hints.push('build with a daemon started outside the hardened unit (systemctl stop bangerd; banger image build ...; then start the unit again), or install without --owner so bangerd runs as root');
  }
  if (host.sysctl('kernel/unprivileged_userns_clone') === '0') {
    problems.push('the kernel does not allow user namespaces to unprivileged users (kernel.unprivileged_userns_clone = 0)');
    hints.push('sudo sysctl -w kernel.unprivileged_userns_clone=1');
  }
  if (host.sysctl('user/max_user_namespaces') === '0') {
    problems.push('user namespaces are disabled (user.max_user_namespaces = 0)');
    hints.push('sudo sysctl -w user.max_user_namespaces=15000');
  }
  if (host.sysctl('kernel/apparmor_restrict_unprivileged_userns') === '1') {
    problems.push('AppArmor restricts user namespaces to programs with a profile that allows them (kernel.apparmor_restrict_unprivileged_userns = 1)');
    hints.push('allow userns for mmdebstrap in an AppArmor profile, or sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0');
  }
  return { ready: problems.length === 0, details, problems, hints };
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether a /proc/PID/status text says the process has no_new_privs set. */
export function statusNoNewPrivs(status: string | undefined): boolean {
  return /^NoNewPrivs:\s*1\s*$/m.test(status ?? '');
}

/** The real host as this process sees it, with `which` supplied by the caller (its PATH lookup). */
export function hostUserns(which: (cmd: string) => string | undefined): UsernsHost {
  return {
    subuid: readOrUndefined('/etc/subuid'),
    subgid: readOrUndefined('/etc/subgid'),
    which,
    sysctl: (name) => readOrUndefined(`/proc/sys/${name}`)?.trim(),
    noNewPrivs: statusNoNewPrivs(readOrUndefined('/proc/self/status')),
  };
}
