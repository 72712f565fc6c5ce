/** One parse-and-validate function per request body; the daemon's routes run them, the CLI builds the same types. */
import { badRequest } from './errors.js';
import { defined, fieldsOf, optBool, optInt, optSize, optString, optStringList, reqString, type Fields } from './parse.js';
import { parsePortSpecs, type ForwardRequest } from './ports.js';
import {
  VM_SIGNALS,
  type BuildImageRequest,
  type CreateSnapshotRequest,
  type CreateVMRequest,
  type ForkVMRequest,
  type ImportKernelRequest,
  type KillVMRequest,
  type PullImageRequest,
  type PullKernelRequest,
  type PushImageRequest,
  type RecordWorkspaceRequest,
  type RegisterImageRequest,
  type SetVMRequest,
  type StopVMRequest,
  type VMSignal,
} from './types.js';

/** For routes that take no body: an absent or empty body is fine, any field is refused. */
export function parseNoBody(body: unknown): undefined {
  fieldsOf(body, [], 'this');
  return undefined;
}

export function parseCreateVMRequest(body: unknown): CreateVMRequest {
  const b = fieldsOf(body, ['name', 'image', 'vcpu', 'memoryMiB', 'diskSize', 'rootSize', 'nat', 'ports', 'allow', 'network', 'noStart', 'fromSnapshot', 'cold', 'driver'], 'create VM');
  const ports = optStringArray(b, 'ports');
  if (ports) parsePortSpecs(ports);
  const network = optString(b, 'network');
  if (network !== undefined && network !== 'user' && network !== 'bridge') throw badRequest(`network must be "user" or "bridge", got ${JSON.stringify(network)}`, 'use --network user or --network bridge');
  return defined<CreateVMRequest>({
    name: optString(b, 'name'),
    image: optString(b, 'image'),
    vcpu: optInt(b, 'vcpu'),
    memoryMiB: optInt(b, 'memoryMiB'),
    diskSize: optSize(b, 'diskSize'),
    rootSize: optSize(b, 'rootSize'),
    nat: optBool(b, 'nat'),
    ports,
    allow: optStringList(b, 'allow'),
    network: network,
    noStart: optBool(b, 'noStart'),
    fromSnapshot: optString(b, 'fromSnapshot'),
    cold: optBool(b, 'cold'),
    driver: optString(b, 'driver'),
  });
}

export function parseCreateSnapshotRequest(body: unknown): CreateSnapshotRequest {
  const b = fieldsOf(body, ['name', 'stop'], 'create snapshot');
  return defined<CreateSnapshotRequest>({ name: optString(b, 'name'), stop: optBool(b, 'stop') });
}

export const MAX_FORK_CHILDREN = 16;

export function parseForkVMRequest(body: unknown): ForkVMRequest {
  const b = fieldsOf(body, ['count', 'namePrefix', 'branch'], 'fork VM');
  return defined<ForkVMRequest>({ count: optInt(b, 'count', 1, MAX_FORK_CHILDREN), namePrefix: optString(b, 'namePrefix'), branch: optString(b, 'branch') });
}

export function parseSetVMRequest(body: unknown): SetVMRequest {
  const b = fieldsOf(body, ['vcpu', 'memoryMiB', 'diskSize', 'nat', 'allow', 'deny'], 'set VM');
  const req = defined<SetVMRequest>({
    vcpu: optInt(b, 'vcpu'),
    memoryMiB: optInt(b, 'memoryMiB'),
    diskSize: optSize(b, 'diskSize'),
    nat: optBool(b, 'nat'),
    allow: optStringList(b, 'allow'),
    deny: optStringList(b, 'deny'),
  });
  if (Object.keys(req).length === 0) throw badRequest('nothing to change', 'pass --vcpu, --memory, --disk-size, --nat, --allow or --deny');
  return req;
}

export function parseForwardRequest(body: unknown): ForwardRequest {
  const b = fieldsOf(body, ['add', 'remove'], 'forward');
  const add = optStringArray(b, 'add');
  if (add) parsePortSpecs(add);
  const remove = b.remove;
  if (remove !== undefined && remove !== null && (!Array.isArray(remove) || !remove.every((n) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535))) {
    throw badRequest('remove must be a list of host ports (1-65535)');
  }
  const req = defined<ForwardRequest>({ add, remove: (remove ?? undefined) as number[] | undefined });
  if (!req.add?.length && !req.remove?.length) throw badRequest('nothing to publish or remove', 'give [HOSTPORT:]GUESTPORT arguments, or --remove HOSTPORT');
  return req;
}

function optStringArray(b: Fields, field: string): string[] | undefined {
  const v = b[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badRequest(`${field} must be a list of strings`);
  return v;
}

export function parseStopVMRequest(body: unknown): StopVMRequest {
  const b = fieldsOf(body, ['timeoutSeconds'], 'stop VM');
  return defined<StopVMRequest>({ timeoutSeconds: optInt(b, 'timeoutSeconds', 1, 3600) });
}

/** Accepts `KILL`, `kill` or `SIGKILL`; returns the SIG name. */
export function parseSignal(value: string, field = 'signal'): VMSignal {
  const upper = value.trim().toUpperCase();
  const full = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (!(VM_SIGNALS as readonly string[]).includes(full)) {
    throw badRequest(`${field}: unsupported signal ${JSON.stringify(value)}`, `use one of ${VM_SIGNALS.join(', ')}`);
  }
  return full as VMSignal;
}

export function parseKillVMRequest(body: unknown): KillVMRequest {
  const b = fieldsOf(body, ['signal'], 'kill VM');
  const signal = optString(b, 'signal');
  return signal === undefined ? {} : { signal: parseSignal(signal) };
}

export function parseBuildImageRequest(body: unknown): BuildImageRequest {
  const b = fieldsOf(body, ['recipe', 'name'], 'build image');
  return defined<BuildImageRequest>({ recipe: optString(b, 'recipe'), name: optString(b, 'name') });
}

export function parsePullImageRequest(body: unknown): PullImageRequest {
  const b = fieldsOf(body, ['ref', 'name', 'size', 'platform', 'kernelRef', 'kernel', 'initrd', 'modules'], 'pull image');
  const req = defined<PullImageRequest>({
    ref: reqString(b, 'ref', 'give an OCI reference such as debian:bookworm'),
    name: optString(b, 'name'),
    size: optSize(b, 'size'),
    platform: optString(b, 'platform'),
    kernelRef: optString(b, 'kernelRef'),
    kernel: optString(b, 'kernel'),
    initrd: optString(b, 'initrd'),
    modules: optString(b, 'modules'),
  });
  if (req.kernelRef && (req.kernel || req.initrd || req.modules)) {
    throw badRequest('--kernel-ref and --kernel/--initrd/--modules are mutually exclusive', 'give either a kernel name or kernel files');
  }
  if (!req.kernel && (req.initrd || req.modules)) throw badRequest('--initrd and --modules need --kernel');
  return req;
}

export function parsePushImageRequest(body: unknown): PushImageRequest {
  const b = fieldsOf(body, ['ref'], 'push image');
  return { ref: reqString(b, 'ref', 'give an OCI reference such as 127.0.0.1:5000/team/base:v1') };
}

export function parsePullKernelRequest(body: unknown): PullKernelRequest {
  const b = fieldsOf(body, ['force'], 'pull kernel');
  return defined<PullKernelRequest>({ force: optBool(b, 'force') });
}

export function parseCachePruneRequest(body: unknown): { dryRun?: boolean } {
  const b = fieldsOf(body, ['dryRun'], 'prune the image cache');
  return defined<{ dryRun?: boolean }>({ dryRun: optBool(b, 'dryRun') });
}

export function parseRegisterImageRequest(body: unknown): RegisterImageRequest {
  const b = fieldsOf(body, ['name', 'rootfs', 'kernel', 'initrd', 'modules', 'kernelRef'], 'register image');
  return defined<RegisterImageRequest>({
    name: reqString(b, 'name'),
    rootfs: reqString(b, 'rootfs', 'pass --rootfs PATH to an ext4 image'),
    kernel: optString(b, 'kernel'),
    initrd: optString(b, 'initrd'),
    modules: optString(b, 'modules'),
    kernelRef: optString(b, 'kernelRef'),
  });
}

export function parseImportKernelRequest(body: unknown): ImportKernelRequest {
  const b = fieldsOf(body, ['name', 'deb', 'kernel', 'initrd', 'modules'], 'import kernel');
  const req = defined<ImportKernelRequest>({
    name: reqString(b, 'name'),
    deb: optString(b, 'deb'),
    kernel: optString(b, 'kernel'),
    initrd: optString(b, 'initrd'),
    modules: optString(b, 'modules'),
  });
  if (req.deb && (req.kernel || req.initrd || req.modules)) throw badRequest('deb: give either deb or kernel (with initrd, modules), not both');
  if (!req.deb && !req.kernel) throw badRequest('nothing to import: kernel or deb is required', 'pass --kernel PATH or --deb FILE|PACKAGE');
  return req;
}

/** A workspace's place in the guest: absolute, not `/`, no `..`, no control characters. Returns it normalised (no trailing /). */
export function checkGuestPath(path: string, field = 'guestPath'): string {
  const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const hint = 'give an absolute directory in the guest, e.g. --guest-path /root/repo';
  // eslint-disable-next-line no-control-regex
  if (!p.startsWith('/') || p === '/' || /[\x00-\x1f]/.test(p)) throw badRequest(`${field}: ${JSON.stringify(path)} is not an absolute directory other than /`, hint);
  if (p.split('/').some((seg) => seg === '..' || seg === '.')) throw badRequest(`${field}: ${JSON.stringify(path)} contains . or .. segments`, hint);
  return p;
}

const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function parseRecordWorkspaceRequest(body: unknown): RecordWorkspaceRequest {
  const b = fieldsOf(body, ['sourcePath', 'guestPath', 'headCommit', 'preparedCommit', 'branch', 'includeUntracked'], 'record workspace');
  const sourcePath = reqString(b, 'sourcePath');
  if (!sourcePath.startsWith('/')) throw badRequest('sourcePath must be an absolute path');
  const commit = (field: string) => {
    const v = reqString(b, field);
    if (!COMMIT.test(v)) throw badRequest(`${field} must be a full commit id (40 or 64 hex digits)`);
    return v;
  };
  return defined<RecordWorkspaceRequest>({
    sourcePath,
    guestPath: checkGuestPath(reqString(b, 'guestPath')),
    headCommit: commit('headCommit'),
    preparedCommit: commit('preparedCommit'),
    branch: optString(b, 'branch'),
    includeUntracked: optBool(b, 'includeUntracked') ?? false,
  });
}
