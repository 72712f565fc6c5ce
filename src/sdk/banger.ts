/** The SDK's entry point: a connection to the local bangerd (started on first use, like the CLI does) with `vms` and `images`. */
import { ROUTES } from '../api/routes.js';
import type { BuildImageRequest, CatalogImageInfo, CreateVMRequest, ImageInfo, PingResult, RecipeInfo, VMInfo } from '../api/types.js';
import { ApiClient } from '../api/client.js';
import { clientLayout, ensureDaemon } from './daemon.js';
import { sdkError } from './errors.js';
import type { Command, ExecOptions, ExecResult, RemoteHop } from './exec.js';
import { contextDirs, selectContext } from './contexts/resolve.js';
import { SshTransport } from './contexts/ssh-transport.js';
import { Operation, type CallOptions } from './operation.js';
import { VM, type StopOptions } from './vm.js';

export interface BangerOptions {
  /** The daemon's socket (default: the one the CLI uses, from BANGER_HOME, BANGER_SOCKET or the XDG paths). */
  socketPath?: string;
  /** Start bangerd when nothing answers, or restart one of another build (default true, as the CLI does). */
  autoStart?: boolean;
  /** Environment used to find the paths and to start the daemon (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Told when a daemon is started or restarted (default: nothing is printed). */
  onNotice?: (line: string) => void;
  /**
   * A context made with `banger context create` (default: BANGER_CONTEXT, else the local daemon; the CLI's
   * stored current context is not followed). Over an ssh:// context the daemon's API goes through one
   * reused ssh connection and commands in VMs hop through the remote host; `socketPath` and `autoStart`
   * are then unused (the remote daemon is started on demand, as the CLI does).
   */
  context?: string;
  /** A ready client provider (the CLI shares its own); the options above are then unused. */
  client?: () => Promise<ApiClient>;
  /** With `client`: the remote host commands in VMs run through (the CLI passes its context's). */
  hop?: RemoteHop;
}

export interface RunOptions extends CreateVMRequest, Omit<ExecOptions, 'signal'>, CallOptions {
  /** The command to run once the VM is ready. */
  cmd: Command;
  /** Delete the VM afterwards, whatever happened. */
  rm?: boolean;
}

export interface RunResult extends ExecResult {
  /** The VM's name (deleted already when `rm` was set). */
  vm: string;
}

export class Banger {
  readonly vms: VMs;
  readonly images: Images;
  private readonly getClient: () => Promise<ApiClient>;
  private clientPromise: Promise<ApiClient> | undefined;

  constructor(opts: BangerOptions = {}) {
    let hop = opts.hop;
    const env = opts.env ?? process.env;
    const remote = opts.client ? undefined : opts.context !== undefined || env.BANGER_CONTEXT ? selectContext(env, opts.context).remote : undefined;
    if (opts.client) {
      this.getClient = opts.client;
    } else if (remote) {
      const transport = new SshTransport(remote, contextDirs(env).runtimeDir, env);
      hop = transport;
      this.getClient = () => {
        this.clientPromise ??= transport.connect();
        this.clientPromise.catch(() => (this.clientPromise = undefined));
        return this.clientPromise;
      };
    } else {
      const layout = clientLayout(env, opts.socketPath);
      this.getClient = () => {
        this.clientPromise ??= (opts.autoStart ?? true)
          ? ensureDaemon(layout, { env, ...(opts.onNotice ? { notice: opts.onNotice } : {}) })
          : Promise.resolve(new ApiClient(layout.socketPath));
        this.clientPromise.catch(() => (this.clientPromise = undefined));
        return this.clientPromise;
      };
    }
    const client = async () => {
      try {
        return await this.getClient();
      } catch (err) {
        throw sdkError(err);
      }
    };
    this.vms = new VMs(client, hop);
    this.images = new Images(client);
  }

  /** A connected SDK: the daemon is up (started if needed) when this resolves. */
  static async connect(opts: BangerOptions = {}): Promise<Banger> {
    const b = new Banger(opts);
    await b.ping();
    return b;
  }

  /** The daemon's version, pid and uptime. */
  async ping(opts: CallOptions = {}): Promise<PingResult> {
    return sync(this.getClient, (c) => c.call(ROUTES.ping, {}, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
  }
}

async function sync<T>(client: () => Promise<ApiClient>, fn: (c: ApiClient) => Promise<T>, signal?: AbortSignal): Promise<T> {
  try {
    return await fn(await client());
  } catch (err) {
    throw sdkError(err, signal);
  }
}

export class VMs {
  constructor(
    private readonly client: () => Promise<ApiClient>,
    private readonly hop?: RemoteHop,
  ) {}

  async list(opts: CallOptions = {}): Promise<VM[]> {
    const infos = await sync(this.client, (c) => c.call(ROUTES.vmList, {}, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
    return infos.map((i) => new VM(this.client, i, this.hop));
  }

  /** One VM by name, id or id prefix; BangerError `not_found` when there is none. */
  async get(name: string, opts: CallOptions = {}): Promise<VM> {
    const info = await sync(this.client, (c) => c.call(ROUTES.vmShow, { name }, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
    return new VM(this.client, info, this.hop);
  }

  /** Creates a VM and (unless `noStart`) boots it until SSH answers. Cancellable: an aborted create leaves no VM. */
  create(req: CreateVMRequest = {}, opts: CallOptions = {}): Operation<VM> {
    return new Operation(async (emit, signal) => {
      const info: VMInfo = await (await this.client()).run(ROUTES.vmCreate, {}, req, emit, signal);
      return new VM(this.client, info, this.hop);
    }, opts);
  }

  /** Creates a VM, runs one command in it, and with `rm` deletes it: `banger vm run [--rm] -- cmd`. */
  run(opts: RunOptions): Operation<RunResult> {
    const { cmd, rm, cwd, env, stdin, timeoutMs, signal, ...req } = opts;
    return new Operation(async (emit, sig) => {
      const create = this.create(req, { signal: sig });
      for await (const ev of create.events) emit(ev);
      const vm = await create;
      try {
        const execOpts: ExecOptions = { signal: sig, ...(cwd !== undefined ? { cwd } : {}), ...(env ? { env } : {}), ...(stdin !== undefined ? { stdin } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
        return { vm: vm.name, ...(await vm.exec(cmd, execOpts)) };
      } finally {
        if (rm) await vm.delete().then(undefined, () => undefined);
      }
    }, signal ? { signal } : {});
  }

  start(name: string, opts: CallOptions = {}): Operation<VM> {
    return this.byName(name, (vm) => vm.start(opts), opts);
  }

  stop(name: string, opts: StopOptions = {}): Operation<VM> {
    return this.byName(name, (vm) => vm.stop(opts), opts);
  }

  delete(name: string, opts: CallOptions = {}): Operation<{ deleted: string }> {
    return new Operation(async (emit, signal) => (await this.client()).run(ROUTES.vmDelete, { name }, undefined, emit, signal), opts);
  }

  private byName(name: string, fn: (vm: VM) => Operation<VM>, opts: CallOptions): Operation<VM> {
    return new Operation(async (emit, signal) => {
      const vm = new VM(this.client, await (await this.client()).call(ROUTES.vmShow, { name }, undefined, { signal }), this.hop);
      const op = fn(vm);
      for await (const ev of op.events) emit(ev);
      return op;
    }, opts);
  }
}

export class Images {
  constructor(private readonly client: () => Promise<ApiClient>) {}

  list(opts: CallOptions = {}): Promise<ImageInfo[]> {
    return sync(this.client, (c) => c.call(ROUTES.imageList, {}, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
  }

  get(name: string, opts: CallOptions = {}): Promise<ImageInfo> {
    return sync(this.client, (c) => c.call(ROUTES.imageShow, { name }, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
  }

  /** The image catalog (built in, or image_catalog_url), each entry marked pulled or not. */
  available(opts: CallOptions = {}): Promise<CatalogImageInfo[]> {
    return sync(this.client, (c) => c.call(ROUTES.imageCatalog, {}, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
  }

  /** The recipes `build` knows. */
  recipes(opts: CallOptions = {}): Promise<RecipeInfo[]> {
    return sync(this.client, (c) => c.call(ROUTES.imageRecipes, {}, undefined, opts.signal ? { signal: opts.signal } : {}), opts.signal);
  }

  /** Builds an image from a recipe (`build('debian-bookworm')`, or `{recipe, name}`). Cancellable. */
  build(what?: string | BuildImageRequest, opts: CallOptions = {}): Operation<ImageInfo> {
    const body: BuildImageRequest = typeof what === 'string' ? { recipe: what } : (what ?? {});
    return new Operation(async (emit, signal) => (await this.client()).run(ROUTES.imageBuild, {}, body, emit, signal), opts);
  }
}
