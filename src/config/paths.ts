/** Every path banger uses, named in one place. `BANGER_HOME` overrides all of them. */
import { homedir } from 'node:os';
import { join } from 'node:path';

export type InstallMode = 'user' | 'system';

export interface Layout {
  mode: InstallMode;
  configDir: string;
  configFile: string;
  stateDir: string;
  cacheDir: string;
  runtimeDir: string;
  socketPath: string;
  dbPath: string;
  daemonLog: string;
  pidFile: string;
  vmsDir: string;
  /** Warm-start snapshots: memory, device state and frozen disks of a VM. */
  snapshotsDir: string;
  imagesDir: string;
  kernelsDir: string;
  stagingDir: string;
  ociCacheDir: string;
  sshDir: string;
  sshKeyPath: string;
  knownHostsPath: string;
  sshConfigPath: string;
  /** The web UI's access token (0600): whoever holds it may use the UI. */
  webTokenPath: string;
}

/** Unix socket paths are limited to 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107;

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  system?: boolean;
  uid?: number;
}

export function resolveLayout(opts: ResolveOptions = {}): Layout {
  const env = opts.env ?? process.env;
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  let configDir: string, stateDir: string, cacheDir: string, runtimeDir: string;
  let mode: InstallMode = 'user';
  if (env.BANGER_HOME) {
    const home = env.BANGER_HOME;
    configDir = home;
    stateDir = join(home, 'state');
    cacheDir = join(home, 'cache');
    runtimeDir = join(home, 'run');
  } else if (opts.system) {
    mode = 'system';
    configDir = '/etc/banger';
    stateDir = '/var/lib/banger';
    cacheDir = '/var/cache/banger';
    runtimeDir = '/run/banger';
  } else {
    const home = env.HOME ?? homedir();
    configDir = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'banger');
    stateDir = join(env.XDG_STATE_HOME || join(home, '.local', 'state'), 'banger');
    cacheDir = join(env.XDG_CACHE_HOME || join(home, '.cache'), 'banger');
    runtimeDir = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'banger') : `/tmp/banger-runtime-${uid}`;
  }
  const sshDir = join(stateDir, 'ssh');
  return {
    mode,
    configDir,
    configFile: join(configDir, 'config.toml'),
    stateDir,
    cacheDir,
    runtimeDir,
    socketPath: env.BANGER_SOCKET || join(runtimeDir, 'bangerd.sock'),
    dbPath: join(stateDir, 'state.db'),
    daemonLog: join(stateDir, 'bangerd.log'),
    pidFile: join(runtimeDir, 'bangerd.pid'),
    vmsDir: join(stateDir, 'vms'),
    snapshotsDir: join(stateDir, 'snapshots'),
    imagesDir: join(stateDir, 'images'),
    kernelsDir: join(stateDir, 'kernels'),
    stagingDir: join(stateDir, 'staging'),
    ociCacheDir: join(cacheDir, 'oci'),
    sshDir,
    sshKeyPath: join(sshDir, 'id_ed25519'),
    knownHostsPath: join(sshDir, 'known_hosts'),
    sshConfigPath: join(configDir, 'ssh_config'),
    webTokenPath: join(stateDir, 'web-token'),
  };
}

export function socketPathProblem(path: string): string | undefined {
  const len = Buffer.byteLength(path);
  if (len > MAX_SOCKET_PATH) {
    return `socket path ${path} is ${len} bytes; unix sockets allow at most ${MAX_SOCKET_PATH}`;
  }
  return undefined;
}
