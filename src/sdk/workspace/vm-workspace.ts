/** A VM's workspace as the SDK offers it: prepare (copy in), diff, export (the patch) and apply (to the host checkout). */
import type { ApiClient } from '../../api/client.js';
import type { Reach } from '../exec.js';
import { BangerError } from '../../api/errors.js';
import { ROUTES } from '../../api/routes.js';
import type { VMInfo, WorkspaceInfo } from '../../api/types.js';
import { applyToHost, type ApplyResult } from './apply.js';
import { workspaceDiff, type DiffFormat, type DiffOptions } from './export.js';
import { prepareWorkspace, type PrepareOptions, type PrepareResult } from './prepare.js';
import { bootstrapTooling, type BootstrapResult, type ToolingPlan } from './tooling.js';

export interface VMHandle {
  readonly name: string;
  client(): Promise<ApiClient>;
  reach(): Promise<Reach>;
  /** Asks the daemon for the VM again. */
  fresh(): Promise<VMInfo>;
}

export interface PreparedWorkspace extends PrepareResult {
  /** What the daemon recorded (absent on a dry run). */
  recorded?: WorkspaceInfo;
}

export class VMWorkspace {
  constructor(private readonly vm: VMHandle) {}

  /** The workspace recorded on the VM, if any. */
  async info(): Promise<WorkspaceInfo | undefined> {
    return (await this.vm.fresh()).workspace;
  }

  private async required(): Promise<WorkspaceInfo> {
    const ws = await this.info();
    if (!ws) {
      throw new BangerError('not_found', `vm ${this.vm.name} has no workspace`, { hint: `copy a checkout in first: banger vm workspace prepare ${this.vm.name} PATH` });
    }
    return ws;
  }

  /** Copies a git checkout into the VM (only the difference when it is already there) and records it. */
  async prepare(hostPath: string, opts: PrepareOptions = {}): Promise<PreparedWorkspace> {
    if (opts.dryRun) return prepareWorkspace(undefined, hostPath, opts);
    const r = await prepareWorkspace(await this.vm.reach(), hostPath, opts);
    const recorded = await (await this.vm.client()).call(ROUTES.vmWorkspaceRecord, { name: this.vm.name }, r.workspace, opts.signal ? { signal: opts.signal } : {});
    return { ...r, recorded };
  }

  /** Installs and activates in the guest what `plan` pins (detectTooling) with mise; best effort, see BootstrapResult. */
  async bootstrap(plan: ToolingPlan, guestPath: string, opts: { signal?: AbortSignal } = {}): Promise<BootstrapResult> {
    return bootstrapTooling(await this.vm.reach(), guestPath, plan, opts.signal);
  }

  /** The guest's changes as a binary patch `git apply` takes (empty when nothing changed). */
  async export(opts: DiffOptions = {}): Promise<Buffer> {
    const ws = await this.required();
    return workspaceDiff(await this.vm.reach(), ws, 'patch', opts);
  }

  /** The guest's changes as a diffstat or as a patch. */
  async diff(format: Exclude<DiffFormat, 'names'> = 'stat', opts: DiffOptions = {}): Promise<string> {
    const ws = await this.required();
    return (await workspaceDiff(await this.vm.reach(), ws, format, opts)).toString('utf8');
  }

  /** Applies the guest's changes to the host checkout the workspace came from (refuses on conflicting local changes). */
  async apply(opts: { signal?: AbortSignal } = {}): Promise<ApplyResult> {
    const ws = await this.required();
    const target = await this.vm.reach();
    const patch = await workspaceDiff(target, ws, 'patch', opts);
    const names = (await workspaceDiff(target, ws, 'names', opts)).toString('utf8').split('\0').filter((p) => p !== '');
    return applyToHost(ws.sourcePath, patch, names, this.vm.name);
  }
}
