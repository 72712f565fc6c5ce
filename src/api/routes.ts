/**
 * The route table: every endpoint under /v1 with its method, path, request body (and the function that parses it),
 * result type, and kind.
 *
 * The rule: **anything that can take more than a second is an operation.** An operation answers
 * `202 {opId}` at once; GET /operations/:id/events streams its stages and progress (NDJSON) up to a `done` event
 * carrying the result, or an `error` event carrying the error envelope; DELETE /operations/:id cancels it when the
 * route is `cancellable` (otherwise it runs to its end and the cancel answers `cancelled: false`).
 * Everything else is `sync`: it answers 200 (201 for register) with the result, or the error envelope.
 * `stream` routes answer a body that grows while they run (a console log, an operation's events).
 *
 * One exception is written down rather than hidden: vm.health is a probe bounded by its own timeouts (an SSH
 * connect of at most 5 s and a command of at most 15 s) whose whole point is the answer, so it stays sync; vm.ports
 * is the same kind of bounded probe (one SSH command, then HTTP checks of at most 1 s each, all concurrent), and
 * so is vm.workspace.diff (git in the guest, at most 60 s per SSH command, for the web UI's VM page);
 * vm.session.send is one SSH command writing at most 64 KiB to a session's stdin, given up after 15 s.
 * image.catalog and kernel.catalog read a configured catalog URL with a 10 s timeout (the built-in catalogs
 * answer at once): a listing, so they stay sync too.
 *
 * Request bodies are JSON objects. A field a route does not define is refused with bad_request naming it (never
 * ignored: an older daemon must not silently drop what a newer CLI asked for). Routes without a body accept an
 * absent or empty one.
 */
import {
  parseBuildImageRequest,
  parseCreateSnapshotRequest,
  parsePullImageRequest,
  parsePullKernelRequest,
  parsePushImageRequest,
  parseCachePruneRequest,
  parseCreateVMRequest,
  parseForwardRequest,
  parseForkVMRequest,
  parseImportKernelRequest,
  parseKillVMRequest,
  parseNoBody,
  parseRecordWorkspaceRequest,
  parseRegisterImageRequest,
  parseSetVMRequest,
  parseStopVMRequest,
} from './requests.js';
import type {
  CachePruneResult,
  CatalogImageInfo,
  CatalogKernelInfo,
  PushImageResult,
  EgressReport,
  ConfigView,
  Deleted,
  ForkResult,
  SnapshotInfo,
  PoolTemplateInfo,
  PoolClearResult,
  DnsStatus,
  HostInfo,
  HypervisorVerdictInfo,
  ImageInfo,
  KernelInfo,
  OperationCancelResult,
  OperationSummary,
  PingResult,
  Pruned,
  RecipeInfo,
  ShutdownResult,
  SSHConfigResult,
  SSHTarget,
  VMHealth,
  VMInfo,
  VMStats,
  WebInfo,
  WorkspaceDiff,
  WorkspaceInfo,
} from './types.js';
import type { ForwardResult, VMPorts } from './ports.js';
import { parseKillSessionRequest, parseSendSessionRequest, parseStartSessionRequest, parseStopSessionRequest, type SendSessionResult, type SessionInfo } from './sessions.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';
export type RouteKind = 'sync' | 'operation' | 'stream';

/** `/vms/:name/stop` → `"name"`. */
type ParamNames<P extends string> = P extends `${string}:${infer N}/${infer Rest}`
  ? N | ParamNames<`/${Rest}`>
  : P extends `${string}:${infer N}`
    ? N
    : never;

/** The path parameters a route needs, e.g. `{ name: string }` for `/vms/:name/stop`. */
export type PathParams<P extends string> = { [K in ParamNames<P>]: string };

export interface Route<K extends RouteKind = RouteKind, P extends string = string, Req = unknown, Res = unknown> {
  /** Also the operation kind (`vm.stop`) for operations. */
  readonly id: string;
  readonly method: HttpMethod;
  /** Relative to API_PREFIX. */
  readonly path: P;
  readonly kind: K;
  readonly summary: string;
  /** Parses and validates the request body, throwing bad_request naming the field. */
  readonly parse: (body: unknown) => Req;
  /** Success status of a sync route (default 200). */
  readonly status?: 200 | 201;
  /** Operations only: whether DELETE /operations/:id stops it. */
  readonly cancellable?: boolean;
  /** Query parameters the route reads. */
  readonly query?: readonly string[];
  /** Type-level only: the result. */
  readonly _result?: Res;
}

export type SyncRoute<P extends string = string, Req = unknown, Res = unknown> = Route<'sync', P, Req, Res>;
export type OperationRoute<P extends string = string, Req = unknown, Res = unknown> = Route<'operation', P, Req, Res>;
export type StreamRoute<P extends string = string> = Route<'stream', P, undefined, never>;

interface RouteDef<K extends RouteKind, P extends string, Req> {
  id: string;
  method: HttpMethod;
  path: P;
  kind: K;
  summary: string;
  parse?: (body: unknown) => Req;
  status?: 200 | 201;
  cancellable?: boolean;
  query?: readonly string[];
}

/** `route<Result>()({...})`: the result type is given, the rest is inferred. */
function route<Res>() {
  return <K extends RouteKind, P extends string, Req = undefined>(def: RouteDef<K, P, Req>): Route<K, P, Req, Res> => ({
    ...def,
    parse: def.parse ?? (parseNoBody as (body: unknown) => Req),
  });
}

export const ROUTES = {
  ping: route<PingResult>()({ id: 'system.ping', method: 'GET', path: '/ping', kind: 'sync', summary: 'version, pid, socket and uptime' }),
  shutdown: route<ShutdownResult>()({ id: 'system.shutdown', method: 'POST', path: '/shutdown', kind: 'sync', summary: 'stop the daemon after answering' }),
  sshConfig: route<SSHConfigResult>()({ id: 'system.ssh_config', method: 'POST', path: '/ssh-config', kind: 'sync', summary: "rewrite banger's ssh_config" }),
  config: route<ConfigView>()({ id: 'system.config', method: 'GET', path: '/config', kind: 'sync', summary: 'the effective configuration' }),
  hypervisor: route<HypervisorVerdictInfo>()({ id: 'system.hypervisor', method: 'GET', path: '/hypervisor', kind: 'sync', summary: 'the cached hypervisor verdict (never probes)' }),
  host: route<HostInfo>()({ id: 'system.host', method: 'GET', path: '/host', kind: 'sync', summary: 'CPUs, memory and state disk of the host; VM, image and kernel counts' }),
  web: route<WebInfo>()({ id: 'system.web', method: 'GET', path: '/web', kind: 'sync', summary: "the web UI's URL with its access token (when web_listen_addr is set)" }),
  events: route<never>()({ id: 'system.events', method: 'GET', path: '/events', kind: 'stream', summary: 'VM changes and operation updates as server-sent events (LiveEvent)' }),
  dnsStatus: route<DnsStatus>()({ id: 'system.dns', method: 'GET', path: '/dns', kind: 'sync', summary: "the <name>.vm DNS server: address, whether it answers (one local query), record count" }),

  operationList: route<OperationSummary[]>()({ id: 'operation.list', method: 'GET', path: '/operations', kind: 'sync', summary: 'operations of the last 15 minutes' }),
  operationShow: route<OperationSummary>()({ id: 'operation.show', method: 'GET', path: '/operations/:id', kind: 'sync', summary: 'one operation' }),
  operationCancel: route<OperationCancelResult>()({ id: 'operation.cancel', method: 'DELETE', path: '/operations/:id', kind: 'sync', summary: 'cancel an operation' }),
  operationEvents: route<never>()({ id: 'operation.events', method: 'GET', path: '/operations/:id/events', kind: 'stream', summary: "an operation's events (NDJSON) up to done or error" }),

  vmList: route<VMInfo[]>()({ id: 'vm.list', method: 'GET', path: '/vms', kind: 'sync', summary: 'every VM' }),
  vmCreate: route<VMInfo>()({ id: 'vm.create', method: 'POST', path: '/vms', kind: 'operation', cancellable: true, parse: parseCreateVMRequest, summary: 'create (and start) a VM' }),
  vmPrune: route<Pruned>()({ id: 'vm.prune', method: 'POST', path: '/vms/prune', kind: 'operation', cancellable: false, summary: 'delete every VM that is not running' }),
  vmShow: route<VMInfo>()({ id: 'vm.show', method: 'GET', path: '/vms/:name', kind: 'sync', summary: 'one VM' }),
  vmSet: route<VMInfo>()({ id: 'vm.set', method: 'PATCH', path: '/vms/:name', kind: 'operation', cancellable: false, parse: parseSetVMRequest, summary: 'change vcpu, memory, NAT; grow the work disk' }),
  vmDelete: route<Deleted>()({ id: 'vm.delete', method: 'DELETE', path: '/vms/:name', kind: 'operation', cancellable: false, summary: 'stop a VM and remove its disks' }),
  vmStart: route<VMInfo>()({ id: 'vm.start', method: 'POST', path: '/vms/:name/start', kind: 'operation', cancellable: true, summary: 'boot a stopped VM' }),
  vmRestart: route<VMInfo>()({ id: 'vm.restart', method: 'POST', path: '/vms/:name/restart', kind: 'operation', cancellable: true, summary: 'stop then start' }),
  vmStop: route<VMInfo>()({ id: 'vm.stop', method: 'POST', path: '/vms/:name/stop', kind: 'operation', cancellable: false, parse: parseStopVMRequest, summary: 'power off gracefully (killed after the timeout)' }),
  vmKill: route<VMInfo>()({ id: 'vm.kill', method: 'POST', path: '/vms/:name/kill', kind: 'operation', cancellable: false, parse: parseKillVMRequest, summary: 'signal the VM process' }),
  vmPause: route<VMInfo>()({ id: 'vm.pause', method: 'POST', path: '/vms/:name/pause', kind: 'operation', cancellable: false, summary: "stop a running VM's CPUs (memory and process stay)" }),
  vmResume: route<VMInfo>()({ id: 'vm.resume', method: 'POST', path: '/vms/:name/resume', kind: 'operation', cancellable: false, summary: 'let a paused VM run again' }),
  vmSuspend: route<VMInfo>()({ id: 'vm.suspend', method: 'POST', path: '/vms/:name/suspend', kind: 'operation', cancellable: false, summary: 'save memory to disk and end the process; vm start loads it again' }),
  vmSSH: route<SSHTarget>()({ id: 'vm.ssh', method: 'GET', path: '/vms/:name/ssh', kind: 'sync', summary: 'how to reach a running VM over SSH' }),
  vmStats: route<VMStats>()({ id: 'vm.stats', method: 'GET', path: '/vms/:name/stats', kind: 'sync', summary: 'CPU and memory of the VM process' }),
  vmHealth: route<VMHealth>()({ id: 'vm.health', method: 'GET', path: '/vms/:name/health', kind: 'sync', summary: 'whether the VM answers over SSH (bounded probe, see above)' }),
  vmPorts: route<VMPorts>()({ id: 'vm.ports', method: 'GET', path: '/vms/:name/ports', kind: 'sync', summary: 'listening guest sockets and published ports (bounded probe, see above)' }),
  vmForward: route<ForwardResult>()({ id: 'vm.forward', method: 'POST', path: '/vms/:name/ports', kind: 'sync', parse: parseForwardRequest, summary: 'publish guest ports on the host, or remove them' }),
  vmWorkspaceRecord: route<WorkspaceInfo>()({ id: 'vm.workspace.record', method: 'POST', path: '/vms/:name/workspace', kind: 'sync', parse: parseRecordWorkspaceRequest, summary: 'record the git checkout a client copied into the VM (the copy itself goes over SSH)' }),
  vmWorkspaceDiff: route<WorkspaceDiff>()({ id: 'vm.workspace.diff', method: 'GET', path: '/vms/:name/workspace/diff', kind: 'sync', query: ['patch'], summary: "the guest's changes in its workspace: files with lines added and deleted; patch=1 adds the patch for reading (bounded probe, as vm.health)" }),
  vmEgress: route<EgressReport>()({ id: 'vm.egress', method: 'GET', path: '/vms/:name/egress', kind: 'sync', summary: 'what a VM may reach, and the names it was allowed and refused' }),
  vmLogs: route<never>()({ id: 'vm.logs', method: 'GET', path: '/vms/:name/logs', kind: 'stream', query: ['follow'], summary: 'the serial console log; follow=1 keeps it open' }),
  vmSnapshotCreate: route<SnapshotInfo>()({ id: 'vm.snapshot.create', method: 'POST', path: '/vms/:name/snapshots', kind: 'operation', cancellable: false, parse: parseCreateSnapshotRequest, summary: "save a running VM's memory, devices and disks" }),
  vmFork: route<ForkResult>()({ id: 'vm.fork', method: 'POST', path: '/vms/:name/fork', kind: 'operation', cancellable: false, parse: parseForkVMRequest, summary: 'snapshot a running VM and restore N children from it' }),
  vmSessionList: route<SessionInfo[]>()({ id: 'vm.session.list', method: 'GET', path: '/vms/:name/sessions', kind: 'sync', summary: "a VM's guest sessions, their state read from the guest when it runs (bounded probe, as vm.health)" }),
  vmSessionStart: route<SessionInfo>()({ id: 'vm.session.start', method: 'POST', path: '/vms/:name/sessions', kind: 'operation', cancellable: false, parse: parseStartSessionRequest, summary: 'start a long-running command in the guest that outlives the client and the daemon' }),
  vmSessionShow: route<SessionInfo>()({ id: 'vm.session.show', method: 'GET', path: '/vms/:name/sessions/:session', kind: 'sync', summary: 'one guest session (bounded probe, as vm.health)' }),
  vmSessionStop: route<SessionInfo>()({ id: 'vm.session.stop', method: 'POST', path: '/vms/:name/sessions/:session/stop', kind: 'operation', cancellable: false, parse: parseStopSessionRequest, summary: 'SIGTERM a session, SIGKILL after the timeout; records its exit status' }),
  vmSessionKill: route<SessionInfo>()({ id: 'vm.session.kill', method: 'POST', path: '/vms/:name/sessions/:session/kill', kind: 'operation', cancellable: false, parse: parseKillSessionRequest, summary: "signal a session's command (default SIGKILL); records its exit status when it ends" }),
  vmSessionLogs: route<never>()({ id: 'vm.session.logs', method: 'GET', path: '/vms/:name/sessions/:session/logs', kind: 'stream', query: ['offset', 'tail', 'follow'], summary: "a session's output (stdout and stderr) from byte offset=N or the last tail=N bytes, the start in the X-Session-Offset header; follow=1 keeps it open until the session ends" }),
  vmSessionSend: route<SendSessionResult>()({ id: 'vm.session.send', method: 'POST', path: '/vms/:name/sessions/:session/input', kind: 'sync', parse: parseSendSessionRequest, summary: "write to a running session's stdin (bounded, see above)" }),
  vmSessionDelete: route<Deleted>()({ id: 'vm.session.delete', method: 'DELETE', path: '/vms/:name/sessions/:session', kind: 'sync', summary: "forget a session that has ended and remove its files in the guest" }),
  snapshotList: route<SnapshotInfo[]>()({ id: 'snapshot.list', method: 'GET', path: '/snapshots', kind: 'sync', summary: 'every snapshot' }),
  snapshotShow: route<SnapshotInfo>()({ id: 'snapshot.show', method: 'GET', path: '/snapshots/:name', kind: 'sync', summary: 'one snapshot' }),
  snapshotDelete: route<Deleted>()({ id: 'snapshot.delete', method: 'DELETE', path: '/snapshots/:name', kind: 'sync', summary: 'remove a snapshot no VM depends on' }),
  poolList: route<PoolTemplateInfo[]>()({ id: 'pool.list', method: 'GET', path: '/pool', kind: 'sync', summary: "the warm pool's templates and builds" }),
  poolClear: route<PoolClearResult>()({ id: 'pool.clear', method: 'DELETE', path: '/pool', kind: 'sync', summary: "cancel the warm pool's builds and remove its templates" }),

  imageList: route<ImageInfo[]>()({ id: 'image.list', method: 'GET', path: '/images', kind: 'sync', summary: 'every image' }),
  imageRecipes: route<RecipeInfo[]>()({ id: 'image.recipes', method: 'GET', path: '/images/recipes', kind: 'sync', summary: 'the recipes banger can build' }),
  imageCatalog: route<CatalogImageInfo[]>()({ id: 'image.catalog', method: 'GET', path: '/catalog/images', kind: 'sync', summary: 'the image catalog, each entry marked pulled or not (reading image_catalog_url is bounded by a 10 s timeout)' }),
  imageBuild: route<ImageInfo>()({ id: 'image.build', method: 'POST', path: '/images/build', kind: 'operation', cancellable: true, parse: parseBuildImageRequest, summary: 'build an image from a recipe' }),
  imagePull: route<ImageInfo>()({ id: 'image.pull', method: 'POST', path: '/images/pull', kind: 'operation', cancellable: true, parse: parsePullImageRequest, summary: 'pull an OCI image and make it a managed image' }),
  imagePush: route<PushImageResult>()({ id: 'image.push', method: 'POST', path: '/images/:name/push', kind: 'operation', cancellable: true, parse: parsePushImageRequest, summary: 'store a managed image in an OCI registry as a banger image artifact' }),
  imageCachePrune: route<CachePruneResult>()({ id: 'image.cache_prune', method: 'POST', path: '/images/cache/prune', kind: 'sync', parse: parseCachePruneRequest, summary: 'empty the OCI blob cache (dryRun: only report)' }),
  imageRegister: route<ImageInfo>()({ id: 'image.register', method: 'POST', path: '/images/register', kind: 'sync', status: 201, parse: parseRegisterImageRequest, summary: 'record an existing rootfs and kernel (nothing is copied)' }),
  imageShow: route<ImageInfo>()({ id: 'image.show', method: 'GET', path: '/images/:name', kind: 'sync', summary: 'one image' }),
  imagePromote: route<ImageInfo>()({ id: 'image.promote', method: 'POST', path: '/images/:name/promote', kind: 'operation', cancellable: true, summary: 'copy a registered image into managed storage' }),
  imageDelete: route<Deleted>()({ id: 'image.delete', method: 'DELETE', path: '/images/:name', kind: 'sync', summary: 'delete an image no VM uses' }),

  kernelList: route<KernelInfo[]>()({ id: 'kernel.list', method: 'GET', path: '/kernels', kind: 'sync', summary: 'every kernel' }),
  kernelCatalog: route<CatalogKernelInfo[]>()({ id: 'kernel.catalog', method: 'GET', path: '/catalog/kernels', kind: 'sync', summary: 'the kernel catalog, each entry marked pulled or not (reading kernel_catalog_url is bounded by a 10 s timeout)' }),
  kernelPull: route<KernelInfo>()({ id: 'kernel.pull', method: 'POST', path: '/kernels/:name/pull', kind: 'operation', cancellable: true, parse: parsePullKernelRequest, summary: 'download a kernel catalog entry (force: replace a kernel of that name)' }),
  kernelImport: route<KernelInfo>()({ id: 'kernel.import', method: 'POST', path: '/kernels/import', kind: 'operation', cancellable: true, parse: parseImportKernelRequest, summary: 'import kernel files or a Debian kernel package' }),
  kernelShow: route<KernelInfo>()({ id: 'kernel.show', method: 'GET', path: '/kernels/:name', kind: 'sync', summary: 'one kernel' }),
  kernelDelete: route<Deleted>()({ id: 'kernel.delete', method: 'DELETE', path: '/kernels/:name', kind: 'sync', summary: 'delete a kernel no image uses' }),
} as const;

/** Every route, in registration order (static paths before the parameter paths they would otherwise match). */
export const ROUTE_LIST: readonly Route[] = Object.values(ROUTES);

/** The path with its parameters filled in (each URI-encoded). */
export function fillPath<P extends string>(path: P, params: PathParams<P>): string {
  return path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const v: string | undefined = (params as Record<string, string>)[name];
    if (v === undefined) throw new TypeError(`path ${path} needs :${name}`);
    return encodeURIComponent(v);
  });
}

/** The routes whose path matches a concrete path (relative to API_PREFIX), whatever their method. */
export function routesForPath(path: string): Route[] {
  return ROUTE_LIST.filter((r) => new RegExp(`^${r.path.replace(/:[A-Za-z]+/g, '[^/]+')}/?$`).test(path));
}
