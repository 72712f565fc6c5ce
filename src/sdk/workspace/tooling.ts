/**
 * Tooling bootstrap: the tool versions a checkout pins, installed in the guest after a workspace
 * prepare: `mise install` of the checkout's own mise files (active in the workspace), and
 * `mise use --global --pin` of the versions read from go.mod, package.json engines, .python-version
 * and rust-toolchain (active everywhere). The guest's PATH starts with mise's shims (see
 * guest/tool-path.ts), so commands find them by name. Best effort: a failure is a warning, the details
 * in the guest's /root/.cache/banger/tooling.log. mise downloads from the tools' own sources, so the VM
 * needs egress to them (sourcesFor); without mise in the image the step says so and does nothing.
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
  /** Versions read from files mise does not read itself: `mise use --global --pin` installs and activates them. */
  pins: PinnedTool[];
  /** mise's own files (.mise.toml, mise.toml, .tool-versions): `mise install` reads them in the guest. */
  miseFiles: string[];
  /** The tools those files name (`node`, `npm:prettier`, ...), for the egress they need. */
  miseTools: string[];
}

const GITHUB = ['github.com', 'api.github.com', 'objects.githubusercontent.com', 'release-assets.githubusercontent.com'];

/**
 * Where mise fetches each tool from: what a VM's egress allowlist needs for the bootstrap. `mise` is
 * mise's own version lists; a backend prefix (`npm:`) covers every tool of that backend; a tool named
 * here by neither comes from mise's registry, mostly GitHub releases (`github`).
 */
export const TOOL_SOURCES: Readonly<Record<string, readonly string[]>> = {
  mise: ['mise.jdx.dev', 'mise-versions.jdx.dev'],
  node: ['nodejs.org'],
  go: ['go.dev', 'dl.google.com'],
  python: GITHUB,
  rust: ['static.rust-lang.org', 'sh.rustup.rs'],
  'npm:': ['registry.npmjs.org'],
  'pipx:': ['pypi.org', 'files.pythonhosted.org'],
  'cargo:': ['index.crates.io', 'static.crates.io'],
  'go:': ['proxy.golang.org', 'sum.golang.org'],
  'gem:': ['rubygems.org'],
  github: GITHUB,
};

const ALIASES: Readonly<Record<string, string>> = { nodejs: 'node', golang: 'go', 'core:node': 'node', 'core:go': 'go', 'core:python': 'python', 'core:rust': 'rust' };

/** The hosts one tool (as mise names it) is downloaded from. */
export function sourcesOfTool(name: string): readonly string[] {
  const tool = ALIASES[name] ?? name;
  const backend = /^[a-z]+:/.exec(tool)?.[0];
  return TOOL_SOURCES[backend ?? tool] ?? TOOL_SOURCES.github!;
}

const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+_-]*$/;

function read(dir: string, name: string): string | undefined {
  const p = join(dir, name);
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

const unquote = (key: string) => key.trim().replace(/^(["'])(.*)\1$/, '$2');

/** The tools a mise.toml names: the keys of [tools], and [tools.NAME] tables. */
export function miseTomlTools(text: string): string[] {
  const out: string[] = [];
  let inTools = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (line.startsWith('[')) {
      const table = /^\[\s*tools\s*(?:\.\s*(.+?)\s*)?\]/.exec(line);
      inTools = table !== null && table[1] === undefined;
      if (table?.[1] !== undefined) out.push(unquote(table[1]));
      continue;
    }
    if (!inTools) continue;
    const key = /^("[^"]+"|'[^']+'|[A-Za-z0-9_:@/.-]+)\s*=/.exec(line)?.[1];
    if (key) out.push(unquote(key));
  }
  return out;
}

/** The tools a .tool-versions names (the first word of each line). */
export function toolVersionsTools(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0] ?? '')
    .filter((t) => t !== '');
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
  const miseTools = [
    ...new Set(miseFiles.flatMap((f) => (f === '.tool-versions' ? toolVersionsTools(read(dir, f) ?? '') : miseTomlTools(read(dir, f) ?? '')))),
  ];
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
  return { pins, miseFiles, miseTools };
}

/** The egress a plan needs (hosts, sorted). */
export function sourcesFor(plan: ToolingPlan): string[] {
  const tools = ['mise', ...plan.pins.map((p) => p.tool), ...plan.miseTools];
  return [...new Set(tools.flatMap((t) => sourcesOfTool(t)))].sort();
}

/**
 * $1 the workspace, $2 1 to `mise install` its mise files, then tool@version arguments for
 * `mise use --global --pin` (installs them and makes them the default everywhere). Exit 3: no mise.
 */
const BOOTSTRAP = `command -v mise >/dev/null 2>&1 || exit 3
dir=$1; own=$2; shift 2
cd -- "$dir" || exit 1
mkdir -p "$HOME/.cache/banger"
exec >"$HOME/.cache/banger/tooling.log" 2>&1
date -u
rc=0
if [ "$own" = 1 ]; then
  echo "+ mise install (in $dir)"
  mise trust --quiet --all >/dev/null 2>&1 || true
  mise install --yes || rc=1
fi
if [ $# -gt 0 ]; then
  echo "+ mise use --global --pin $*"
  mise use --global --pin --yes "$@" || rc=1
fi
exit $rc`;

export type BootstrapResult = { status: 'none' } | { status: 'no_mise' } | { status: 'installed'; tools: string[] } | { status: 'failed'; tools: string[]; log: string };

export const TOOLING_LOG = '/root/.cache/banger/tooling.log';

/** Installs what `plan` pins in the guest's workspace. Never throws for a failed install: it reports it. */
export async function bootstrapTooling(target: Reach, guestPath: string, plan: ToolingPlan, signal?: AbortSignal): Promise<BootstrapResult> {
  if (plan.pins.length === 0 && plan.miseFiles.length === 0) return { status: 'none' };
  const tools = plan.pins.map((p) => `${p.tool}@${p.version}`);
  const own = plan.miseFiles.length > 0 ? '1' : '0';
  const r = await execText(target, ['sh', '-c', BOOTSTRAP, 'sh', guestPath, own, ...tools], { timeoutMs: 30 * 60_000, ...(signal ? { signal } : {}) });
  if (r.exitCode === 3) return { status: 'no_mise' };
  const shown = [...plan.miseFiles, ...tools];
  if (r.exitCode !== 0) return { status: 'failed', tools: shown, log: TOOLING_LOG };
  return { status: 'installed', tools: shown };
}
