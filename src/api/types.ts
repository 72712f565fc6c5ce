/** Wire types shared by the daemon and its clients. Plain JSON, no classes. */
import type { ErrorEnvelope } from './errors.js';
import type { VMState } from '../model/vm-state.js';

export type { VMState };

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
  result?: unknown;
  error?: ErrorEnvelope;
}

export interface OperationStarted {
  opId: string;
}

export interface VMSpec {
  vcpu: number;
  memoryMiB: number;
  /** Size of the persistent work disk mounted at /root. */
  diskSizeBytes: number;
  /** Virtual size of the copy-on-write root disk; the guest grows / to it. Absent on VMs made before it existed. */
  rootSizeBytes?: number;
  nat: boolean;
}

export interface VMInfo {
  id: string;
  name: string;
  state: VMState;
  imageId: string;
  imageName?: string;
  spec: VMSpec;
  ip?: string;
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
  problems?: string[];
}

export interface CreateVMRequest {
  name?: string;
  image?: string;
  vcpu?: number;
  memoryMiB?: number;
  diskSize?: string;
  /** Virtual size of the root disk, e.g. "8G". */
  rootSize?: string;
  nat?: boolean;
  noStart?: boolean;
}

export interface SetVMRequest {
  vcpu?: number;
  memoryMiB?: number;
  diskSize?: string;
  nat?: boolean;
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
