/** VM sizing: explicit request, then [vm_defaults], then host heuristics, then built-in floors. */
import { badRequest } from '../../api/errors.js';
import type { VMSpec } from '../../api/types.js';
import type { VMDefaults } from '../../config/schema.js';
import { formatAllowEntry, parseAllowList } from '../../model/egress.js';
import { formatSize, parseSize } from '../../model/size.js';

export const LIMITS = { vcpuMax: 64, memoryMinMiB: 128, memoryMaxMiB: 1024 * 1024, diskMin: 64 * 1024 ** 2, diskMax: 16 * 1024 ** 4 };
export const BUILTIN = { vcpu: 2, memoryMiB: 1024, diskSize: 8 * 1024 ** 3, rootSize: 8 * 1024 ** 3 };

export interface HostFacts {
  cpus: number;
  memoryBytes: number;
}

export type Provenance = 'request' | 'config' | 'auto' | 'builtin';

export interface ResolvedSpec {
  spec: VMSpec;
  from: Record<'vcpu' | 'memoryMiB' | 'diskSizeBytes' | 'rootSizeBytes', Provenance>;
}

export function checkVcpu(v: number, host?: HostFacts): number {
  if (!Number.isInteger(v) || v < 1 || v > LIMITS.vcpuMax) throw badRequest(`vcpu ${v} is out of range`, `use a whole number from 1 to ${Math.min(LIMITS.vcpuMax, host?.cpus ?? LIMITS.vcpuMax)}`);
  if (host && v > host.cpus) throw badRequest(`vcpu ${v} is more than this host's ${host.cpus} CPUs`, `use --vcpu ${host.cpus} or less`);
  return v;
}

export function checkMemory(m: number, host?: HostFacts): number {
  if (!Number.isInteger(m) || m < LIMITS.memoryMinMiB || m > LIMITS.memoryMaxMiB) {
    throw badRequest(`memory ${m} MiB is out of range`, `use a whole number of MiB from ${LIMITS.memoryMinMiB} to ${LIMITS.memoryMaxMiB}, e.g. --memory 2048`);
  }
  if (host && m * 1024 ** 2 > host.memoryBytes) {
    throw badRequest(`memory ${m} MiB is more than this host has (${Math.floor(host.memoryBytes / 1024 ** 2)} MiB)`, 'ask for less with --memory');
  }
  return m;
}

export function checkDisk(bytes: number): number {
  if (bytes < LIMITS.diskMin || bytes > LIMITS.diskMax) throw badRequest(`disk size ${formatSize(bytes)} is out of range`, 'use a size from 64M to 16T, e.g. --disk-size 8G');
  return bytes;
}

export function checkRootSize(bytes: number): number {
  if (bytes < LIMITS.diskMin || bytes > LIMITS.diskMax) throw badRequest(`root size ${formatSize(bytes)} is out of range`, 'use a size from 64M to 16T, e.g. --root-size 16G');
  return bytes;
}

/** Validates allowlist entries (the bad one named) and returns them in their canonical form. */
export function checkAllow(entries: readonly string[]): string[] {
  return parseAllowList(entries).map(formatAllowEntry);
}

export function resolveSpec(
  req: { vcpu?: number; memoryMiB?: number; diskSize?: string; rootSize?: string; nat?: boolean; allow?: string[]; network?: 'user' | 'bridge' },
  defaults: VMDefaults,
  host: HostFacts,
  defaultAllow?: readonly string[],
): ResolvedSpec {
  const autoVcpu = Math.max(Math.min(BUILTIN.vcpu, host.cpus), Math.min(4, Math.floor(host.cpus / 4)));
  const autoMem = Math.max(BUILTIN.memoryMiB, Math.min(8192, Math.floor(host.memoryBytes / 1024 ** 2 / 8)));
  const pick = <T>(r: T | undefined, c: T | undefined, auto: T | undefined, builtin: T): [T, Provenance] =>
    r !== undefined ? [r, 'request'] : c !== undefined ? [c, 'config'] : auto !== undefined ? [auto, 'auto'] : [builtin, 'builtin'];
  const [vcpu, vFrom] = pick(req.vcpu, defaults.vcpu, autoVcpu, BUILTIN.vcpu);
  const [mem, mFrom] = pick(req.memoryMiB, defaults.memory_mib, autoMem, BUILTIN.memoryMiB);
  const [disk, dFrom] = pick(
    req.diskSize !== undefined ? parseSize(req.diskSize) : undefined,
    defaults.disk_size !== undefined ? parseSize(defaults.disk_size) : undefined,
    undefined,
    BUILTIN.diskSize,
  );
  const [root, rFrom] = pick(
    req.rootSize !== undefined ? parseSize(req.rootSize) : undefined,
    defaults.system_overlay_size !== undefined ? parseSize(defaults.system_overlay_size) : undefined,
    undefined,
    BUILTIN.rootSize,
  );
  return {
    spec: { vcpu: checkVcpu(vcpu, host), memoryMiB: checkMemory(mem, host), diskSizeBytes: checkDisk(disk), rootSizeBytes: checkRootSize(root), nat: Boolean(req.nat), ...allowAndNetwork(req, defaultAllow) },
    from: { vcpu: vFrom, memoryMiB: mFrom, diskSizeBytes: dFrom, rootSizeBytes: rFrom },
  };
}

export function specLine(spec: VMSpec): string {
  const root = spec.rootSizeBytes !== undefined ? ` | ${formatSize(spec.rootSizeBytes)} root` : '';
  return `spec: ${spec.vcpu} vcpu | ${spec.memoryMiB} MiB | ${formatSize(spec.diskSizeBytes)} disk${root}`;
}

function allowAndNetwork(req: { allow?: string[]; network?: 'user' | 'bridge' }, defaultAllow?: readonly string[]): Pick<VMSpec, 'allow' | 'network'> {
  const allow = req.allow ?? (defaultAllow && defaultAllow.length > 0 ? [...defaultAllow] : undefined);
  return { ...(allow !== undefined ? { allow: checkAllow(allow) } : {}), ...(req.network !== undefined ? { network: req.network } : {}) };
}
