/** Wire types shared by the daemon and its clients. Plain JSON, no classes. */
import type { PublishedPort } from './ports.js';
import type { ErrorEnvelope } from './errors.js';

/** A VM's state as the API shows it; `broken` is never stored (see model/vm-state.ts for the moves). */
export type VMState = 'created' | 'starting' | 'running' | 'paused' | 'stopping' | 'stopped' | 'suspended' | 'error' | 'broken';

export const API_PREFIX = '/v1';

export interface BuildInfo {
  version: string;
  commit: string;
  builtAt: string;
}

export interface PingResult extends BuildInfo {
  pid: number;
  socket: string;
  logPath: string;
  stateDir: string;
  startedAt: string;
  uptimeSeconds: number;
  webUrl?: string;
  dnsAddr?: string;
  /** Where guests' DNS listens in bridge mode (the bridge address, UDP and TCP), once bridge mode is in use. */
  guestDnsAddr?: string;
  /** The uid the daemon runs as. */
  uid?: number;
  /** banger's root helper, when the daemon runs unprivileged and hands bridge mode's host operations to it. */
  rootHelper?: RootHelperStatus;
}

export interface RootHelperStatus {
  socket: string;
  reachable: boolean;
  /** Why it could not be reached, or what it refused. */
  error?: string;
}

export type OpState = 'running' | 'succeeded' | 'failed' | 'cancelled';

export type OpEvent =
  | { type: 'stage'; at: string; stage: string; label: string }
  | { type: 'stage_done'; at: string; stage: string; elapsedMs: number }
  | { type: 'progress'; at: string; stage: string; current: number; total?: number; unit?: string }
  | { type: 'log'; at: string; stage?: string; message: string; level?: 'info' | 'warn' }
  | { type: 'done'; at: string; result: unknown; elapsedMs: number }
  | { type: 'error'; at: string; error: ErrorEnvelope; elapsedMs: number };

export interface OperationSummary {
  id: string;
  kind: string;
  target?: string;
  state: OpState;
  startedAt: string;
  endedAt?: string;
  stage?: string;
  /** Whether DELETE /operations/:id stops it; when false it runs to its end. */
  cancellable: boolean;
  result?: unknown;
  error?: ErrorEnvelope;
}

export interface OperationStarted {
  opId: string;
}

export interface OperationCancelResult {
  /** False when the operation had already ended, or cannot be cancelled (it then runs to its end). */
  cancelled: boolean;
  state: OpState;
}

export interface VMSpec {
  vcpu: number;
  memoryMiB: number;
  /** Size of the persistent work disk mounted at /root. */
  diskSizeBytes: number;
  /** Virtual size of the copy-on-write root disk; the guest grows / to it. Absent on VMs made before it existed. */
  rootSizeBytes?: number;
  nat: boolean;
  /** Guest ports published on the host at each start (`vm run -p`, `vm forward`). */
  ports?: PublishedPort[];
  /** Egress allowlist entries (domains, `*.` wildcards, IPv4 CIDRs); absent: no allowlist. */
  allow?: string[];
  /** The VM's network mode when chosen at create (`--network`); absent: config network_mode. */
  network?: 'user' | 'bridge';
  /** The hypervisor driver the VM was created with (`--driver`, or the daemon's choice then); absent on VMs made before it was recorded: the daemon's choice. */
  driver?: string;
}

export interface VMInfo {
  id: string;
  name: string;
  state: VMState;
  imageId: string;
  imageName?: string;
  spec: VMSpec;
  ip?: string;
  /** How a running VM is networked (bridge: taps and nftables; user: QEMU's restricted user mode). */
  networkMode?: 'user' | 'bridge';
  sshHost?: string;
  sshPort?: number;
  dnsName: string;
  driver?: string;
  accel?: string;
  pid?: number;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  lastError?: string;
  /** Why the VM is stopped (powered off, killed, its process died...). */
  stoppedReason?: string;
  /** The git checkout last copied into the VM (`vm workspace prepare`, `vm run PATH`). */
  workspace?: WorkspaceInfo;
  problems?: string[];
}

/** A git checkout copied into a VM: where it came from, where it is, and what it was based on. */
export interface WorkspaceInfo {
  /** The checkout's top directory on the machine that copied it (the client's, which may not be the daemon's). */
  sourcePath: string;
  /** Where it is in the guest. */
  guestPath: string;
  /** The host's HEAD when it was copied: `vm workspace export --base-commit` takes it to include commits made before. */
  headCommit: string;
  /** A commit in the guest (refs/banger/prepared) holding the tree exactly as copied: export and diff compare against it. */
  preparedCommit: string;
  /** The guest-only branch made with --branch, if any. */
  branch?: string;
  includeUntracked: boolean;
  preparedAt: string;
}

/** One file a workspace diff names: lines added and deleted (0 for a binary file), and its old path when renamed. */
export interface WorkspaceDiffFile {
  path: string;
  from?: string;
  added: number;
  deleted: number;
  binary?: boolean;
}

/** The guest's changes in its workspace against the tree as prepared (GET /vms/:name/workspace/diff). */
export interface WorkspaceDiff {
  vm: string;
  guestPath: string;
  files: WorkspaceDiffFile[];
  /** Lines added and deleted over all files. */
  added: number;
  deleted: number;
  /** With ?patch=1: the patch for reading (binary files are named, not encoded), at most patchLimit bytes. */
  patch?: string;
  /** With ?patch=1: whether the patch was cut at patchLimit bytes (banger vm workspace export has all of it). */
  truncated?: boolean;
  patchLimit?: number;
}

/** What a client records after copying a checkout into a VM. */
export type RecordWorkspaceRequest = Omit<WorkspaceInfo, 'preparedAt'>;

export interface CreateVMRequest {
  name?: string;
  image?: string;
  vcpu?: number;
  memoryMiB?: number;
  /** The work disk (/root), a size such as `8G`. */
  diskSize?: string;
  /** The root disk's virtual size, a size such as `8G`; the guest's / grows to it (default vm_defaults.system_overlay_size). */
  rootSize?: string;
  nat?: boolean;
  /** `[HOSTPORT:]GUESTPORT` specs to publish (`-p`). */
  ports?: string[];
  /** Egress allowlist entries; each is validated and the bad one named. */
  allow?: string[];
  network?: 'user' | 'bridge';
  noStart?: boolean;
  /** Restore from this snapshot (name or id) instead of booting; the machine shape comes from the snapshot. */
  fromSnapshot?: string;
  /** Boot cold: do not restore from the warm pool. */
  cold?: boolean;
  /** The hypervisor driver for this VM (qemu, firecracker), instead of the daemon's `driver` setting. */
  driver?: string;
}

/** A warm pool template (`vm pool`). */
export interface PoolTemplateInfo {
  name: string;
  imageId: string;
  imageName: string;
  vcpu: number;
  memoryMiB: number;
  /** The work disk it was saved with; larger requests are grown after restore. */
  diskSizeBytes: number;
  sizeBytes: number;
  createdAt: string;
  /** ready: restored from; stale: its image, kernel, driver or guest bits changed (never used; rebuilt after the next cold boot); retired: cleared or replaced, kept while VMs run over it; building: in progress. */
  status: 'ready' | 'stale' | 'retired' | 'building';
  usedBy: string[];
}

export interface PoolClearResult {
  removed: string[];
  /** Templates still in use by VMs: never used again, removed once those are gone. */
  retired: string[];
  cancelled: number;
}

export interface CreateSnapshotRequest {
  /** A DNS label; default: `<vm>-<time>`. */
  name?: string;
  /** Leave the VM stopped after saving it instead of letting it run on. */
  stop?: boolean;
}

export interface ForkVMRequest {
  /** How many children (1-16, default 1). */
  count?: number;
  /** Children are named `<prefix>-1`, `<prefix>-2`, ... (default: the parent's name). */
  namePrefix?: string;
  /** A guest branch per child, made in the parent's workspace from its HEAD; `{n}` is the child's number. Needs a workspace. */
  branch?: string;
}

export interface ForkResult {
  snapshot: string;
  children: VMInfo[];
}

/** A saved VM: memory and device state, frozen disks and a manifest. */
export interface SnapshotInfo {
  id: string;
  name: string;
  sourceVm: string;
  imageId: string;
  imageName?: string;
  vcpu: number;
  memoryMiB: number;
  /** Bytes its files take on disk. */
  sizeBytes: number;
  /** Driver and version that saved it. */
  driver: string;
  driverVersion: string;
  createdAt: string;
  /** VMs restored from it (deleting it is refused while there are any). */
  usedBy: string[];
  dir: string;
  /**
   * The sha256 of its saved memory: `recorded` in its manifest (checked on restore); `pending` while the
   * daemon that took it still computes it in the background (a fork's snapshot); `missing` when it was
   * never recorded (that daemon stopped first, or the files changed), and the snapshot is not restored.
   */
  checksum: SnapshotChecksum;
}

export type SnapshotChecksum = 'recorded' | 'pending' | 'missing';

export interface SetVMRequest {
  vcpu?: number;
  memoryMiB?: number;
  diskSize?: string;
  nat?: boolean;
  /** Entries added to the VM's allowlist (creating it when it has none). */
  allow?: string[];
  /** Entries removed from the allowlist; removing the last one leaves an empty allowlist (nothing allowed). */
  deny?: string[];
}

/** One name a VM asked banger's DNS about, with what came of it. */
export interface EgressNameRecord {
  name: string;
  count: number;
  /** ISO time of the last query. */
  last: string;
  /** Addresses the answers carried (allowed names): the VM may reach them for the answer's TTL. */
  addresses?: string[];
}

/** One destination a bridge-mode VM tried to reach and was refused (its packets dropped). */
export interface EgressConnectionRecord {
  address: string;
  /** `tcp`, `udp`, `icmp`, ... */
  protocol: string;
  /** The destination port (TCP and UDP). */
  port?: number;
  /** Packets dropped on the way there (a retried connection counts each try). */
  count: number;
  /** ISO time of the last attempt (to the second). */
  last: string;
}

/** `vm egress`: what a VM may reach and what it tried. */
export interface EgressReport {
  name: string;
  mode: 'user' | 'bridge';
  running: boolean;
  nat: boolean;
  /** Allowlist entries; absent when the VM has none (then nat decides: everything or nothing). */
  allow?: string[];
  allowed: EgressNameRecord[];
  denied: EgressNameRecord[];
  /** Packets of the VM dropped by its egress rules in this run (bridge mode). */
  droppedPackets?: number;
  /**
   * Connection attempts refused in this run, per destination (bridge mode; a destination is forgotten
   * a day after its last attempt, and at most 4096 are kept).
   */
  refusedConnections?: EgressConnectionRecord[];
  /** How this mode enforces the policy. */
  note: string;
}

export interface StopVMRequest {
  /** Kill the VM when it has not powered off after this many seconds (default 30). */
  timeoutSeconds?: number;
}

export const VM_SIGNALS = ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGSTOP', 'SIGCONT'] as const;
export type VMSignal = (typeof VM_SIGNALS)[number];

export interface KillVMRequest {
  /** Sent to the VM process; `KILL` and `SIGKILL` both work (default SIGKILL). */
  signal?: VMSignal;
}

export interface Deleted {
  deleted: string;
}

export interface Pruned {
  deleted: string[];
  /** VMs left alone because another request was working on them. */
  skipped: string[];
}

export interface VMHealth {
  name: string;
  ok: boolean;
  /** The channel that answered: the driver's vsock guest channel where it has one, else SSH. */
  via?: 'vsock' | 'ssh';
  sshMs?: number;
  /** Round trip of the guest channel's health answer. */
  channelMs?: number;
  /** Why the guest channel did not answer (SSH was asked then). */
  channelError?: string;
  error?: string;
}

export interface BuildImageRequest {
  /** Recipe name (default: config default_image_name). */
  recipe?: string;
  /** Image name (default: the recipe name). */
  name?: string;
}

export interface PullImageRequest {
  /** OCI reference: [registry/]repository[:tag][@sha256:digest]. */
  ref: string;
  /** Image name (default: derived from the reference, e.g. debian-bookworm). */
  name?: string;
  /** rootfs.ext4 size such as "4G" (default: content x1.5, at least 1 GiB). */
  size?: string;
  /** os/arch[/variant] picked from a multi-platform image (default linux/amd64). */
  platform?: string;
  /** A kernel from `banger kernel list` for images without one. */
  kernelRef?: string;
  /** Kernel files on the daemon's host, copied into the image. */
  kernel?: string;
  initrd?: string;
  modules?: string;
}

export interface PushImageRequest {
  /** Where to store it: [registry/]repository[:tag] (tag default latest). */
  ref: string;
}

export interface PushImageResult {
  image: string;
  /** The reference written, with its tag. */
  ref: string;
  /** Digest of the artifact's manifest (pull REF@digest to pin it). */
  digest: string;
  /** Bytes of the blobs and manifest the artifact is made of. */
  bytes: number;
}

/** A kernel catalog entry, marked pulled when a local kernel has its name. */
export interface CatalogKernelInfo {
  name: string;
  description: string;
  version?: string;
  /** Images without a kernel of their own boot with it. */
  default: boolean;
  kind: 'deb' | 'bundle';
  url: string;
  sha256: string;
  sizeBytes: number;
  pulled: boolean;
  /** "built in", or the kernel_catalog_url it came from. */
  catalog: string;
}

/** An image catalog entry, marked pulled when a local image has its name. */
export interface CatalogImageInfo {
  name: string;
  description: string;
  distro?: string;
  kernel?: string;
  kind: 'bundle' | 'oci' | 'recipe';
  /** The bundle URL, the OCI reference or the recipe name. */
  from: string;
  /** Download size (bundles only). */
  sizeBytes?: number;
  pulled: boolean;
  /** Size of the local image when pulled. */
  localSizeBytes?: number;
  /** "built in", or the image_catalog_url it came from. */
  catalog: string;
}

export interface PullKernelRequest {
  /** Download again and replace a kernel of that name. */
  force?: boolean;
}

export interface CachePruneResult {
  /** Blobs removed (or that would be, with dryRun). */
  blobs: number;
  /** Flattened images (finished rootfs and work seed of earlier pulls) removed. */
  flattened: number;
  /** Disk space freed by both. */
  bytes: number;
  dryRun: boolean;
}

export interface RegisterImageRequest {
  name: string;
  rootfs: string;
  kernel?: string;
  initrd?: string;
  modules?: string;
  kernelRef?: string;
}

export interface ImportKernelRequest {
  name: string;
  /** A .deb file (absolute path) or a package name; excludes kernel/initrd/modules. */
  deb?: string;
  kernel?: string;
  initrd?: string;
  modules?: string;
}

export interface RecipeInfo {
  name: string;
  description: string;
  distro?: string;
  suite?: string;
}

export interface ShutdownResult {
  stopping: boolean;
}

export interface SSHConfigResult {
  path: string;
}

/** The daemon's DNS server for `<name>.vm`, as `banger dns status` shows it. */
export interface DnsStatus {
  /** dns_listen_addr as configured; empty means the server is off. */
  configured: string;
  /** The address it listens on (UDP and TCP), when it does. */
  addr?: string;
  /** Why it does not listen (the bind error), when it should but does not. */
  error?: string;
  /** Whether a query the daemon sent to its own listener just now was answered. */
  answers: boolean;
  /** How many `<name>.vm` names it answers (running VMs). */
  records: number;
  zone: string;
  /** The listener guests use in bridge mode (UDP and TCP on the bridge address), once bridge mode is in use. */
  guest?: GuestDnsStatus;
}

export interface GuestDnsStatus {
  /** `bridge_ip:53` when it listens. */
  addr?: string;
  /** Why it does not listen (the bind error). */
  error?: string;
  /** Whether a query the daemon sent to it just now was answered. */
  answers: boolean;
  /** The bridge it listens on (bridge_name): `banger dns setup` wires systemd-resolved per link there. */
  link?: string;
}

/** One configuration key as `config show` reports it. */
export interface ConfigKeyView {
  /** `log_level`, `vm_defaults.vcpu`, `file_sync`. */
  key: string;
  value: unknown;
  source: 'default' | 'file' | 'env';
  /** False for keys that are accepted and validated, but that nothing reads yet. */
  inEffect: boolean;
  doc?: string;
}

export interface ConfigView {
  file: string | null;
  path: string;
  config: Record<string, unknown>;
  sources: Record<string, string>;
  keys: ConfigKeyView[];
}

export interface SSHTarget {
  vm: string;
  host: string;
  port: number;
  user: string;
  keyPath: string;
  knownHostsPath: string;
  hostKeyAlias: string;
  /** Where ssh keeps a shared connection to the VM, so later commands skip the handshake. */
  controlPath?: string;
}

export interface VMStats {
  name: string;
  state: VMState;
  pid?: number;
  cpuPercent?: number;
  cpuSeconds?: number;
  rssBytes?: number;
  memoryMiB: number;
  vcpu: number;
  uptimeSeconds?: number;
  /** The hypervisor's own counters (firecracker's metrics), when its driver keeps them. */
  counters?: VMCounters;
  /** Why the hypervisor's counters could not be read this time. */
  countersError?: string;
}

/** Counters a hypervisor keeps for a VM, totals since it started; each is absent when the hypervisor does not count it. */
export interface VMCounters {
  /** Exits from guest to hypervisor over all vCPUs (I/O ports, MMIO, halts). */
  vcpuExits?: number;
  blockReadBytes?: number;
  blockWriteBytes?: number;
  netRxBytes?: number;
  netTxBytes?: number;
}


export interface ImageInfo {
  id: string;
  name: string;
  managed: boolean;
  distro: string;
  arch: string;
  source: string;
  rootfsPath: string;
  workSeedPath?: string;
  kernelRef?: string;
  kernelPath?: string;
  initrdPath?: string;
  modulesPath?: string;
  sizeBytes: number;
  createdAt: string;
  meta: Record<string, unknown>;
}

export interface KernelInfo {
  name: string;
  distro: string;
  arch: string;
  kernelVersion: string;
  kernelPath: string;
  initrdPath?: string;
  modulesPath?: string;
  sha256: string;
  initrdSha256?: string;
  source: string;
  importedAt: string;
}

export interface DoctorCheck {
  name: string;
  status: 'PASS' | 'WARN' | 'FAIL';
  details: string[];
  fix?: string;
}

/**
 * Whether guests run with KVM or TCG here, as bangerd decided it: by a probe at its first VM start
 * (until then, `probed` is false), cached with the reason in its store.
 */
/** Which driver new VMs get and why (`driver = "auto"` names what it passed over). */
export interface HypervisorChoiceInfo {
  driver?: 'qemu' | 'firecracker' | 'fake';
  /** One line: the config setting and, for auto, why drivers before it were passed over. */
  choice?: string;
}

export type HypervisorVerdictInfo =
  | ({ probed: false } & HypervisorChoiceInfo)
  | (HypervisorChoiceInfo & {
      probed: true;
      accel: 'kvm' | 'tcg';
      /** One line from the probe: what ran, how fast. */
      reason: string;
      /** ISO 8601. */
      probedAt: string;
      /** False when the hypervisor binary, the host kernel or /dev/kvm access changed since: the next VM start probes again. */
      current: boolean;
    });

/** The host the daemon runs on, for the dashboard: CPUs, memory, the disk holding banger's state. */
export interface HostInfo {
  hostname: string;
  cpus: number;
  /** 1, 5 and 15 minute load averages. */
  loadAvg: [number, number, number];
  memoryTotalBytes: number;
  /** What new processes can still get (MemAvailable), not just free pages. */
  memoryAvailableBytes: number;
  disk: { path: string; totalBytes: number; freeBytes: number };
  /** The configured driver (`auto` picks one at the first VM start and says why in the hypervisor verdict). */
  driver: string;
  networkMode: string;
  vms: { total: number; running: number };
  images: number;
  kernels: number;
}

/** How to reach the web UI: its URL carries the install's access token. */
export interface WebInfo {
  enabled: boolean;
  /** The address from web_listen_addr; empty when the UI is off. */
  listenAddr: string;
  /** With the token: opening it sets the UI's cookie. */
  url?: string;
  /** Why the UI is not listening although web_listen_addr is set (e.g. the port is taken). */
  error?: string;
}

/**
 * What GET /events streams (server-sent events; the event name is `type`): a VM's new view after any
 * change to it, a deleted VM, and an operation's summary when it starts, changes stage and ends.
 */
export type LiveEvent =
  | { type: 'vm'; vm: VMInfo }
  | { type: 'vm_deleted'; id: string; name: string }
  | { type: 'operation'; operation: OperationSummary };
