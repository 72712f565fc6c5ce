/**
 * banger's architecture, as rules on imports between the folders under src/. Read the tables below
 * first: they are the map of the code base. The tests after them parse every TypeScript file under
 * src/ (with the TypeScript parser: static imports, `export ... from`, `import()` calls and
 * `import('...')` types) and fail with the offending file and import.
 *
 * Layers, bottom to top (a layer imports only layers below it; LAYERS says exactly which):
 *
 *   api                 the HTTP contract: wire types, errors, the client
 *   model               plain domain values (they throw api's errors)
 *   config              config.toml and the directory layout
 *   system              host wrappers: processes, files, systemd, the logger
 *   store               SQLite: migrations and repositories (the only place with SQL)
 *   drivers, guest      hypervisor / ssh / ext4 backends; what goes into a guest
 *   services            VMs, images and kernels: the daemon's work
 *   daemon              bangerd: HTTP routes over the services
 *   sdk                 the TypeScript SDK: the daemon's API and commands in VMs, client-side like the CLI
 *   mcp                 `banger mcp`: an MCP server over the SDK
 *   doctor, cli         the `banger` client: a thin caller of the daemon, plus host checks
 *   bin                 the two executables
 *   web-ui              the browser app served by bangerd's web server: a client of the API (types only)
 *
 * `*.test.ts` files and the test-support folders are exempt from the layer rules; every other file,
 * test helpers included, counts for the "no cycles between folders" rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// ---------------------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------------------

interface Layer {
  /** What lives there. */
  about: string;
  /**
   * The other folders its files may import: a folder name ("system"), or a path below one
   * ("drivers/ext4") to allow only that part. 'any' for test support.
   */
  imports: readonly string[] | 'any';
}

/** Every folder directly under src/, and what it may import. A folder always may import itself. */
const LAYERS: Readonly<Record<string, Layer>> = {
  api: { about: 'the HTTP contract: wire types, error codes, the client', imports: [] },
  model: { about: 'domain values: VM names, sizes, file names', imports: ['api'] },
  config: { about: 'config.toml, its schema, the directory layout', imports: ['api', 'model'] },
  system: { about: 'host wrappers: exec, /proc, atomic files, systemd, the logger', imports: ['api', 'model', 'config'] },
  store: { about: 'the SQLite state store: migrations and repositories', imports: ['api', 'model'] },
  drivers: { about: 'backends: the hypervisor contract and QEMU, ssh, ext4 tools', imports: ['api', 'model', 'system'] },
  guest: { about: 'what goes into a guest: seed disk, injected files, guest bits', imports: ['api', 'model', 'system', 'drivers/ext4'] },
  services: {
    about: 'the daemon\'s work: VMs, images, kernels',
    imports: ['api', 'model', 'config', 'system', 'store', 'drivers', 'guest'],
  },
  daemon: {
    about: 'bangerd: HTTP routes, operations, the service wiring',
    imports: ['api', 'model', 'config', 'system', 'store', 'drivers', 'guest', 'services'],
  },
  doctor: { about: 'banger doctor: read-only host checks (daemon state only over the API)', imports: ['api', 'model', 'config', 'system'] },
  sdk: { about: 'the TypeScript SDK: a client of the daemon, and commands and files in VMs over ssh', imports: ['api', 'model', 'config', 'system'] },
  mcp: { about: 'banger mcp: the MCP server, a client of the SDK', imports: ['api', 'sdk'] },
  cli: { about: 'banger: commands that call the daemon over its API', imports: ['api', 'model', 'config', 'system', 'doctor', 'sdk', 'mcp'] },
  bin: { about: 'the banger and bangerd executables', imports: ['cli', 'daemon'] },
  'web-ui': { about: 'the browser app (bundled by scripts/build.mjs, served by the daemon): a client of the HTTP API', imports: ['api'] },
  testing: { about: 'helpers for tests', imports: 'any' },
  e2e: { about: 'end-to-end tests against the built CLI', imports: 'any' },
};

/** Single imports the layers forbid but the design needs: one file, one module, and why. */
const EXCEPTIONS: readonly { from: string; to: string; why: string }[] = [
  {
    from: 'cli/guest-ssh.ts',
    to: 'drivers/ssh/client.ts',
    why: 'the one client-side ssh launcher: `banger vm ssh/exec` run ssh in the user\'s terminal',
  },
  {
    from: 'sdk/exec.ts',
    to: 'drivers/ssh/client.ts',
    why: 'the SDK runs client-side like the CLI: commands and files in a VM go over the same ssh launcher',
  },
  {
    from: 'doctor/checks/state-store.ts',
    to: 'store/inspect.ts',
    why: 'the read-only schema check; it matters most when bangerd cannot start, so it cannot ask bangerd',
  },
];

/**
 * Folders whose subfolders are siblings that must not import each other; what they share lives in
 * the folder's own files or in the subfolders listed as shared.
 */
const SIBLINGS: Readonly<Record<string, { shared: readonly string[] }>> = {
  services: { shared: ['artifacts', 'network'] },
};

/** Packages that only some folders may import as values (`import type` is fine anywhere). */
const PACKAGES: Readonly<Record<string, { only: readonly string[]; why: string }>> = {
  'better-sqlite3': { only: ['store'], why: 'SQL is written in store/ only; others get repositories' },
  hono: { only: ['daemon'], why: 'only bangerd serves HTTP' },
  '@hono/node-server': { only: ['daemon'], why: 'only bangerd serves HTTP' },
  commander: { only: ['cli'], why: 'only the CLI parses command lines' },
  picocolors: { only: ['cli'], why: 'only the CLI colours its output (the doctor takes a style)' },
  'smol-toml': { only: ['config'], why: 'config.toml is read in config/ only' },
  'dns-packet': { only: ['services'], why: "DNS packets are the daemon's DNS server's business (services/dns)" },
  '@modelcontextprotocol/sdk': { only: ['mcp'], why: 'only banger mcp speaks MCP' },
  '@hono/node-ws': { only: ['daemon'], why: "only bangerd's web server takes websockets" },
  ssh2: { only: ['drivers'], why: 'SSH sessions are a backend (drivers/ssh); others ask the services' },
  preact: { only: ['web-ui'], why: 'the browser app only; it is bundled, never loaded by node' },
  '@xterm/xterm': { only: ['web-ui'], why: 'the browser terminal only' },
};

/**
 * Known violations in files being rewritten elsewhere: to be removed. They are skipped by every
 * rule (cycles included), and an entry that is no longer violated fails the test, so the list only
 * shrinks.
 */
const ALLOWLIST: readonly { from: string; to: string }[] = [
  // to be removed: services must not import daemon; import Logger from system/logger.ts
];

// ---------------------------------------------------------------------------------------------------
// Reading the sources
// ---------------------------------------------------------------------------------------------------

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

interface Import {
  /** The importing file, relative to src/ ("doctor/env.ts"). */
  file: string;
  /** As written. */
  specifier: string;
  /** For relative specifiers: the target file relative to src/, or undefined when it does not exist. */
  target?: string;
  typeOnly: boolean;
  /** `import()` with something other than a string literal: cannot be checked. */
  computed?: boolean;
}

function listSources(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return listSources(p);
      return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
    });
}

const posix = (p: string) => p.split(sep).join('/');

function resolveTarget(fromAbs: string, specifier: string): string | undefined {
  const abs = resolve(dirname(fromAbs), specifier);
  const candidates = abs.endsWith('.js') ? [abs.slice(0, -3) + '.ts', abs] : [abs, abs + '.ts'];
  const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  return found === undefined ? undefined : posix(relative(SRC, found));
}

function importsOf(abs: string): Import[] {
  const file = posix(relative(SRC, abs));
  const sf = ts.createSourceFile(abs, readFileSync(abs, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Import[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    const target = specifier.startsWith('.') ? resolveTarget(abs, specifier) : undefined;
    out.push({ file, specifier, typeOnly, ...(specifier.startsWith('.') ? { target } : {}) });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly = c !== undefined && (c.isTypeOnly || (!c.name && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      add(n.moduleReference.expression.text, n.isTypeOnly);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = n.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) add(arg.text, false);
      else out.push({ file, specifier: arg ? arg.getText(sf) : '', typeOnly: false, computed: true });
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal.text, true);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const SOURCES = listSources(SRC);
const FILES = SOURCES.map((abs) => posix(relative(SRC, abs)));
const IMPORTS = SOURCES.flatMap(importsOf);

const folderOf = (path: string) => path.split('/')[0]!;
const isTest = (file: string) => file.endsWith('.test.ts');
const isTestSupport = (file: string) => isTest(file) || LAYERS[folderOf(file)]?.imports === 'any';
const allowlisted = (i: Import) => ALLOWLIST.some((a) => a.from === i.file && a.to === i.target);
const show = (i: Import) => `src/${i.file} imports '${i.specifier}'`;
/** Relative imports between two different folders under src/. */
const crossFolder = (i: Import): i is Import & { target: string } => i.target !== undefined && folderOf(i.target) !== folderOf(i.file);

function layerProblem(i: Import & { target: string }): string | undefined {
  const from = folderOf(i.file);
  const to = folderOf(i.target);
  const layer = LAYERS[from];
  if (!layer || layer.imports === 'any') return undefined;
  if (layer.imports.some((allowed) => i.target === allowed || i.target.startsWith(allowed.endsWith('.ts') ? allowed : allowed + '/'))) return undefined;
  if (EXCEPTIONS.some((e) => e.from === i.file && e.to === i.target)) return undefined;
  const may = layer.imports.length > 0 ? layer.imports.join(', ') : 'nothing outside itself';
  return `${show(i)}: ${from} -> ${to} is not allowed (${from} may import ${may})`;
}

function siblingProblem(i: Import & { target: string }): string | undefined {
  const [top, sub] = i.file.split('/');
  const [ttop, tsub] = i.target.split('/');
  const rule = SIBLINGS[top!];
  if (!rule || top !== ttop || i.file.split('/').length < 3 || i.target.split('/').length < 3) return undefined;
  if (sub === tsub || rule.shared.includes(tsub!)) return undefined;
  return `${show(i)}: ${top}/${sub} -> ${top}/${tsub!} (sibling folders do not import each other; move what both need to ${rule.shared.map((s) => `${top}/${s}`).join(' or ')})`;
}

function packageProblem(i: Import): string | undefined {
  const name = i.specifier.startsWith('@') ? i.specifier.split('/').slice(0, 2).join('/') : i.specifier.split('/')[0]!;
  const rule = PACKAGES[name];
  if (!rule || i.typeOnly || rule.only.includes(folderOf(i.file))) return undefined;
  return `${show(i)}: ${name} may be imported (other than \`import type\`) only in ${rule.only.join(', ')}: ${rule.why}`;
}

/** The folder graph over non-test files, each edge with one import that makes it. */
function folderGraph(): Map<string, Map<string, Import>> {
  const g = new Map<string, Map<string, Import>>();
  for (const i of IMPORTS) {
    if (isTest(i.file) || !crossFolder(i) || allowlisted(i)) continue;
    const from = folderOf(i.file);
    const edges = g.get(from) ?? new Map<string, Import>();
    if (!edges.has(folderOf(i.target))) edges.set(folderOf(i.target), i);
    g.set(from, edges);
  }
  return g;
}

/** One shortest cycle through each folder that is on a cycle, each reported once. */
function folderCycles(g: Map<string, Map<string, Import>>): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  for (const start of [...g.keys()].sort()) {
    // Breadth-first from start's successors back to start.
    const prev = new Map<string, string>();
    const queue = [...(g.get(start)?.keys() ?? [])].sort();
    for (const q of queue) prev.set(q, start);
    let found = false;
    while (queue.length > 0 && !found) {
      const n = queue.shift()!;
      if (n === start) {
        found = true;
        break;
      }
      for (const m of [...(g.get(n)?.keys() ?? [])].sort()) {
        if (prev.has(m)) continue;
        prev.set(m, n);
        queue.push(m);
      }
    }
    if (!found) continue;
    const path = [start];
    for (let n = prev.get(start)!; n !== start; n = prev.get(n)!) path.unshift(n);
    path.unshift(start);
    const key = [...path.slice(1)].sort().join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    cycles.push(path);
  }
  return cycles;
}

function report(problems: string[], what: string): void {
  assert.deepEqual(problems, [], `${problems.length} ${what}:\n  ${problems.join('\n  ')}\n`);
}

// ---------------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------------

void test('architecture: every folder under src/ has a layer rule, and rules name real folders', () => {
  const folders = [...new Set(FILES.filter((f) => f.includes('/')).map(folderOf))];
  const problems = folders.filter((f) => !LAYERS[f]).map((f) => `src/${f}/ has no entry in LAYERS (architecture.test.ts): say what it may import`);
  for (const [name, layer] of Object.entries(LAYERS)) {
    if (!folders.includes(name)) problems.push(`LAYERS names ${name}, which is not a folder under src/`);
    if (layer.imports === 'any') continue;
    for (const t of layer.imports) if (!existsSync(join(SRC, t))) problems.push(`LAYERS.${name} allows ${t}, which does not exist under src/`);
  }
  for (const e of [...EXCEPTIONS, ...ALLOWLIST]) {
    for (const p of [e.from, e.to]) if (!FILES.includes(p)) problems.push(`the rule ${e.from} -> ${e.to} names src/${p}, which does not exist`);
  }
  report(problems, 'problems with the rule tables');
});

void test('architecture: every import can be checked', () => {
  const problems = IMPORTS.filter((i) => i.computed || (i.specifier.startsWith('.') && i.target === undefined)).map((i) =>
    i.computed ? `src/${i.file}: import(${i.specifier}) is computed; import a string literal so the layers can be checked` : `${show(i)}, which is not a file under src/`,
  );
  report(problems, 'unresolvable imports');
});

void test('architecture: imports follow the layers', () => {
  const problems = IMPORTS.filter((i) => !isTestSupport(i.file) && crossFolder(i) && !allowlisted(i))
    .map((i) => layerProblem(i as Import & { target: string }))
    .filter((p): p is string => p !== undefined);
  report(problems, 'imports against the layers');
});

void test('architecture: sibling service folders do not import each other', () => {
  const problems = IMPORTS.filter((i): i is Import & { target: string } => !isTestSupport(i.file) && i.target !== undefined && !allowlisted(i))
    .map(siblingProblem)
    .filter((p): p is string => p !== undefined);
  report(problems, 'imports between sibling folders');
});

void test('architecture: packages stay in their folders (no SQL outside store/)', () => {
  const problems = IMPORTS.filter((i) => !isTestSupport(i.file) && !i.specifier.startsWith('.'))
    .map(packageProblem)
    .filter((p): p is string => p !== undefined);
  report(problems, 'package imports outside their folders');
});

void test('architecture: no cycles between folders', () => {
  const g = folderGraph();
  const problems = folderCycles(g).map((path) => {
    const steps = path.slice(1).map((to, k) => `${path[k]!} -> ${to} (${show(g.get(path[k]!)!.get(to)!)})`);
    return `${path.join(' -> ')}:\n      ${steps.join('\n      ')}`;
  });
  report(problems, 'cycles between folders');
});

void test('architecture: the allowlist holds only live violations', () => {
  const violates = (i: Import) => i.target !== undefined && ((crossFolder(i) && layerProblem(i) !== undefined) || siblingProblem(i as Import & { target: string }) !== undefined);
  const stale = ALLOWLIST.filter((a) => !IMPORTS.some((i) => i.file === a.from && i.target === a.to && violates(i))).map((a) => `${a.from} -> ${a.to} is allowlisted but no longer a violation: delete the entry`);
  report(stale, 'stale allowlist entries');
});
