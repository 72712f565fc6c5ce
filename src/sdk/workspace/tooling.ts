/**
 * Tooling bootstrap: the tool versions a checkout pins, and `mise install` of them in the guest after
 * a workspace prepare. Best effort: a failure is a warning, the details in the guest's
 * /root/.cache/banger/tooling.log. mise downloads from the tools' own sources, so the VM needs egress
 * to them (see TOOL_SOURCES); without mise in the image the step says so and does nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execText, type Reach } from '../exec.js';

export interface PinnedTool {
  /** mise's name for it. */
  tool: string;
  version: string;
  /** The file that pins it. */
  source: string;
}

export interface ToolingPlan {
  /** Versions read from files mise does not read itself. */
  pins: PinnedTool[];
  /** mise's own files (.mise.toml, .tool-versions): `mise install` reads them in the guest. */
  miseFiles: string[];
}

/** Where mise fetches each tool from: what a VM's egress allowlist needs for the bootstrap. */
export const TOOL_SOURCES: Readonly<Record<string, readonly string[]>> = {
  mise: ['mise.jdx.dev', 'github.com', 'objects.githubusercontent.com'],
  node: ['nodejs.org'],
  go: ['go.dev', 'dl.google.com'],
  python: ['github.com', 'objects.githubusercontent.com'],
  rust: ['static.rust-lang.org', 'sh.rustup.rs'],
};

const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+_-]*$/;

function read(dir: string, name: string): string | undefined {
  const p = join(dir, name);
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

/** A package.json engines range as a version mise takes: `>=20.1 <21` -> 20.1, `^18` -> 18, `20.x` -> 20. */
export function nodeVersionOf(range: string): string | undefined {
  const m = /(\d+(?:\.\d+){0,2})/.exec(range.replace(/\.x\b/g, ''));
  return m?.[1];
}

/** The tools a checkout pins. Pure apart from reading the files. */
export function detectTooling(dir: string): ToolingPlan {
  const pins: PinnedTool[] = [];
  const add = (tool: string, version: string | undefined, source: string) => {
    if (version && VERSION.test(version) && !pins.some((p) => p.tool === tool)) pins.push({ tool, version, source });
  };
  const miseFiles = ['.mise.toml', 'mise.toml', '.tool-versions'].filter((f) => existsSync(join(dir, f)));
  const gomod = read(dir, 'go.mod');
  if (gomod) add('go', /^toolchain\s+go(\S+)/m.exec(gomod)?.[1] ?? /^go\s+(\S+)/m.exec(gomod)?.[1], 'go.mod');
  const pkg = read(dir, 'package.json');
  if (pkg) {
    try {
      const engines = (JSON.parse(pkg) as { engines?: { node?: unknown } }).engines;
      if (typeof engines?.node === 'string') add('node', nodeVersionOf(engines.node), 'package.json engines.node');
    } catch {
      /* not JSON: nothing pinned */
    }
  }
  add('python', read(dir, '.python-version')?.trim().split(/\s+/)[0], '.python-version');
  const rustToml = read(dir, 'rust-toolchain.toml');
  if (rustToml) add('rust', /^\s*channel\s*=\s*"([^"]+)"/m.exec(rustToml)?.[1], 'rust-toolchain.toml');
  else add('rust', read(dir, 'rust-toolchain')?.trim().split(/\s+/)[0], 'rust-toolchain');
  return { pins, miseFiles };
}

/** The egress a plan needs (hosts, sorted). */
export function sourcesFor(plan: ToolingPlan): string[] {
  const tools = new Set(['mise', ...plan.pins.map((p) => p.tool)]);
  return [...new Set([...tools].flatMap((t) => TOOL_SOURCES[t] ?? []))].sort();
}

/** $1 the workspace, then tool@version arguments. Exit 3: no mise in the image. */
const BOOTSTRAP = `command -v mise >/dev/null 2>&1 || exit 3
cd -- "$1" || exit 1; shift
mkdir -p "$HOME/.cache/banger"
log="$HOME/.cache/banger/tooling.log"
{ date -u; echo "mise install $*"; mise trust --yes . 2>/dev/null; mise install --yes "$@"; } >"$log" 2>&1`;

export type BootstrapResult = { status: 'none' } | { status: 'no_mise' } | { status: 'installed'; tools: string[] } | { status: 'failed'; tools: string[]; log: string };

export const TOOLING_LOG = '/root/.cache/banger/tooling.log';

/** Installs what `plan` pins in the guest's workspace. Never throws for a failed install: it reports it. */
export async function bootstrapTooling(target: Reach, guestPath: string, plan: ToolingPlan, signal?: AbortSignal): Promise<BootstrapResult> {
  if (plan.pins.length === 0 && plan.miseFiles.length === 0) return { status: 'none' };
  const tools = plan.pins.map((p) => `${p.tool}@${p.version}`);
  const r = await execText(target, ['sh', '-c', BOOTSTRAP, 'sh', guestPath, ...tools], { timeoutMs: 30 * 60_000, ...(signal ? { signal } : {}) });
  if (r.exitCode === 3) return { status: 'no_mise' };
  const shown = tools.length > 0 ? tools : plan.miseFiles;
  if (r.exitCode !== 0) return { status: 'failed', tools: shown, log: TOOLING_LOG };
  return { status: 'installed', tools: shown };
}
