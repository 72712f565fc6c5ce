/** What the doctor checks read from the host, gathered in one object so tests can replace any of it. */
import { accessSync, existsSync, readFileSync, statfsSync } from 'node:fs';
import { homedir, machine, release } from 'node:os';
import { dirname, join } from 'node:path';
import { ApiClient } from '../api/client.js';
import { tryHypervisorVerdict, tryPing } from '../api/daemon-status.js';
import type { HypervisorVerdictInfo } from '../api/types.js';
import type { PingResult } from '../api/types.js';
import { loadConfig } from '../config/load.js';
import { resolveLayout, type Layout } from '../config/paths.js';
import { runUnchecked, which } from '../system/exec.js';

export interface ToolOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface FsSpace {
  /** Bytes available to unprivileged users. */
  available: number;
  /** The directory actually measured (the nearest existing ancestor of the state directory). */
  measured: string;
}

export interface DoctorEnv {
  env: NodeJS.ProcessEnv;
  uid: number;
  layout: Layout;
  /** `uname -m`. */
  machine: string;
  /** `uname -r`. */
  release: string;
  /** Fields of /etc/os-release (ID, ID_LIKE, PRETTY_NAME, ...). */
  osRelease: Record<string, string>;
  /** The hypervisor binaries to look for (names on PATH or absolute paths), from the config. */
  bins: { qemu: string; firecracker: string };
  /** Finds an executable; undefined when it is not installed. */
  which(cmd: string): string | undefined;
  /** Runs an executable (absolute path) and returns its output; never throws. `input` is its stdin. */
  runTool(path: string, args: string[], opts?: { input?: string }): Promise<ToolOutput>;
  exists(path: string): boolean;
  /** A small text file's content (systemd units); undefined when it cannot be read. */
  readText?(path: string): string | undefined;
  /** True when the current user may access `path` with `mode` (fs.constants R_OK|W_OK...). */
  canAccess(path: string, mode: number): boolean;
  freeSpace(path: string): FsSpace;
  /** Asks the daemon for its ping without starting it; undefined when nothing answers. */
  ping(): Promise<PingResult | undefined>;
  /**
   * Asks the daemon, without starting it, for the KVM/TCG verdict it cached at its first VM start
   * (it probes nothing for this); undefined when nothing answers.
   */
  hypervisorVerdict(): Promise<HypervisorVerdictInfo | undefined>;
}


/** A PATH lookup over `pathVar` (and, unless told otherwise, the system sbin directories). */
export function toolLookup(pathVar: string, opts: { systemDirs?: boolean } = {}): (cmd: string) => string | undefined {
  return (cmd) => which(cmd, pathVar, opts);
}

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]!] = v.replace(/\\(["$`\\])/g, '$1');
  }
  return out;
}

function readOsRelease(): Record<string, string> {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(readFileSync(p, 'utf8'));
    } catch {
      /* try the next */
    }
  }
  return {};
}

/** Runs a tool by absolute path with `env` (and the C locale, for parseable output); never throws. */
export function toolRunner(env: NodeJS.ProcessEnv, timeoutMs = 10_000): DoctorEnv['runTool'] {
  return async (path, args, opts = {}) => {
    try {
      const r = await runUnchecked([path, ...args], { env: { ...env, LC_ALL: 'C' }, timeoutMs, maxOutput: 64 * 1024, ...(opts.input !== undefined ? { input: opts.input } : {}) });
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      return { code: null, stdout: '', stderr: err instanceof Error ? err.message : String(err) };
    }
  };
}

/** The nearest existing directory at or above `path`. */
export function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

export const DEFAULT_BINS: DoctorEnv['bins'] = { qemu: 'qemu-system-x86_64', firecracker: 'firecracker' };

/** The hypervisor binaries named in the config; the defaults when it is absent or invalid (the config check reports that). */
function configuredBins(configFile: string, env: NodeJS.ProcessEnv): DoctorEnv['bins'] {
  try {
    const { config } = loadConfig(configFile, env);
    const home = env.HOME ?? homedir();
    const expand = (p: string) => (p.startsWith('~/') ? join(home, p.slice(2)) : p);
    return {
      qemu: config.qemu_bin ? expand(config.qemu_bin) : DEFAULT_BINS.qemu,
      firecracker: config.firecracker_bin ? expand(config.firecracker_bin) : DEFAULT_BINS.firecracker,
    };
  } catch {
    return { ...DEFAULT_BINS };
  }
}

export interface DoctorEnvOptions {
  env?: NodeJS.ProcessEnv;
  layout?: Layout;
  uid?: number;
  bins?: Partial<DoctorEnv['bins']>;
  /** Per-tool timeout for version queries. */
  toolTimeoutMs?: number;
}

/** The real host, seen through `env` (its PATH decides which tools are found). */
export function hostDoctorEnv(opts: DoctorEnvOptions = {}): DoctorEnv {
  const env = opts.env ?? process.env;
  const layout = opts.layout ?? resolveLayout({ env });
  const timeoutMs = opts.toolTimeoutMs ?? 10_000;
  const which = toolLookup(env.PATH ?? '');
  const bins = { ...configuredBins(layout.configFile, env), ...opts.bins };
  return {
    env,
    uid: opts.uid ?? process.getuid?.() ?? 0,
    layout,
    machine: machine(),
    release: release(),
    osRelease: readOsRelease(),
    bins,
    which,
    runTool: toolRunner(env, timeoutMs),
    exists: (p) => existsSync(p),
    readText(p) {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    },
    canAccess(p, mode) {
      try {
        accessSync(p, mode);
        return true;
      } catch {
        return false;
      }
    },
    freeSpace(p) {
      const measured = existingAncestor(p);
      const s = statfsSync(measured);
      return { available: s.bavail * s.bsize, measured };
    },
    ping: () => tryPing(new ApiClient(layout.socketPath), 2000),
    hypervisorVerdict: () => tryHypervisorVerdict(new ApiClient(layout.socketPath), 2000),
  };
}
