/** Running mmdebstrap for a recipe: the argv (pure), its progress (parsed from apt/dpkg output) and failures. */
import { existsSync } from 'node:fs';
import { run, ExecError, ToolMissingError } from '../../system/exec.js';
import { BangerError, badRequest, operationFailed, unavailable } from '../../api/errors.js';
import type { OpContext } from '../op-context.js';
import type { Recipe } from './recipes.js';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface MmdebstrapPlan {
  recipe: Recipe;
  mirror: string;
  /** The directory to fill (format directory), or "-": the tree as a tar stream on stdout (format tar). */
  target: string;
  mode: 'root' | 'unshare';
  /** Default directory. A tar leaves out /dev (device nodes cannot be made without root; the guest mounts devtmpfs). */
  format?: 'directory' | 'tar';
  keyring?: string;
  /**
   * A tar file (root-owned entries) unpacked into the tree before any package is installed. mmdebstrap
   * reads it outside any user namespace, so it may sit in a directory only the caller can enter.
   */
  earlyTar?: string;
}

/** A path that can go into a special hook inside single quotes. */
const HOOK_SAFE = /^\/[A-Za-z0-9._/+-]*$/;

/** The mmdebstrap argv for a recipe. Signature checks stay on: apt verifies against the keyring. */
export function mmdebstrapArgv(plan: MmdebstrapPlan): string[] {
  const { recipe: r, mirror } = plan;
  const components = r.components.join(' ');
  const argv = [
    'mmdebstrap',
    `--mode=${plan.mode}`,
    `--variant=${r.variant}`,
    `--format=${plan.format ?? 'directory'}`,
    `--architectures=${r.arch}`,
    `--components=${r.components.join(',')}`,
    `--include=${r.packages.join(',')}`,
    '--aptopt=APT::Install-Recommends "false"',
    '--verbose',
  ];
  if (plan.format === 'tar') argv.push('--skip=output/dev');
  if (plan.keyring) argv.push(`--keyring=${plan.keyring}`);
  if (plan.earlyTar) {
    if (!HOOK_SAFE.test(plan.earlyTar)) throw badRequest(`${JSON.stringify(plan.earlyTar)} cannot be used in an mmdebstrap hook`);
    // Before packages are installed, so their maintainer scripts (update-initramfs) see the settings.
    argv.push(`--setup-hook=tar-in '${plan.earlyTar}' /`);
  }
  argv.push(r.suite, plan.target);
  argv.push(`deb ${mirror} ${r.suite} ${components}`);
  for (const s of r.extraSuites ?? []) argv.push(`deb ${mirror} ${s} ${components}`);
  if (r.security) argv.push(`deb ${r.security.mirror} ${r.security.suite} ${components}`);
  return argv;
}

/** The informational lines worth showing a user; the rest stays out of the progress view. */
const MILESTONE = /^(running apt-get update|downloading packages|extracting archives|installing (essential|remaining) packages|cleaning package lists|success in)/;
/** Warnings that are expected when building as root and mean nothing to a user. */
const QUIET_WARNING = /^Download is performed unsandboxed as root/;

/** Follows mmdebstrap's output: apt's "N newly installed" gives totals, dpkg's "Setting up" lines progress. */
export class MmdebstrapProgress {
  total = 0;
  done = 0;
  downloaded = 0;
  readonly errors: string[] = [];

  constructor(private readonly ctx: Pick<OpContext, 'progress' | 'log'>) {}

  line(text: string): void {
    const l = text.trimEnd();
    let m;
    if ((m = /^\d+ upgraded, (\d+) newly installed/.exec(l))) {
      this.total += Number(m[1]);
      this.ctx.progress(this.done, this.total, 'packages');
    } else if (l.startsWith('Setting up ')) {
      this.done += 1;
      this.ctx.progress(this.done, this.total || undefined, 'packages');
    } else if (/^Get:\d+ /.test(l)) {
      this.downloaded += 1;
    } else if (l.startsWith('I: ')) {
      if (MILESTONE.test(l.slice(3))) this.ctx.log(l.slice(3));
    } else if (l.startsWith('W: ')) {
      if (!QUIET_WARNING.test(l.slice(3))) this.ctx.log(l.slice(3), 'warn');
    } else if (/^E: /.test(l)) {
      this.errors.push(l.slice(3));
    }
  }
}

export function installMode(): 'root' | 'unshare' {
  return process.getuid?.() === 0 ? 'root' : 'unshare';
}

/** The error for a failed mmdebstrap run: its E: lines, else the last lines it printed. */
export function mmdebstrapFailure(plan: MmdebstrapPlan, progress: MmdebstrapProgress, lastLines: string, cause?: unknown): BangerError {
  const errors = progress.errors
    .filter((e) => !/^setup failed: |^mmdebstrap failed to run$/.test(e))
    .map((e) => (e.length > 300 ? `${e.slice(0, 300)}...` : e));
  const detail = errors.length > 0 ? errors.slice(-6).join('\n') : lastLines;
  return new BangerError('operation_failed', `mmdebstrap failed for recipe ${plan.recipe.name}:\n${detail}`, {
    hint: `check the recipe's package names and that ${plan.mirror} is reachable`,
    cause,
  });
}

export const MMDEBSTRAP_MISSING = ['mmdebstrap is not installed', 'install it: apt-get install mmdebstrap debian-archive-keyring'] as const;

export function checkKeyring(plan: MmdebstrapPlan): void {
  if (plan.keyring && !existsSync(plan.keyring)) {
    throw unavailable(`the Debian archive keyring ${plan.keyring} is missing`, 'install it: apt-get install debian-archive-keyring');
  }
}

export async function runMmdebstrap(plan: MmdebstrapPlan, ctx: OpContext): Promise<MmdebstrapProgress> {
  checkKeyring(plan);
  const progress = new MmdebstrapProgress(ctx);
  try {
    await run(mmdebstrapArgv(plan), { signal: ctx.signal, onLine: (l) => progress.line(l), maxOutput: 256 * 1024 });
  } catch (err) {
    if (err instanceof ToolMissingError) throw unavailable(...MMDEBSTRAP_MISSING);
    if (err instanceof ExecError) {
      if (ctx.signal.aborted) throw err;
      throw mmdebstrapFailure(plan, progress, err.lastLines(10), err);
    }
    throw err instanceof BangerError ? err : operationFailed(`mmdebstrap failed: ${String(err)}`, undefined, err);
  }
  return progress;
}
