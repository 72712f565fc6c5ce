import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync, chmodSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch { /* not a checkout */ }
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
writeFileSync(join(root, 'dist/build-info.json'), JSON.stringify({ version: pkg.version, commit, builtAt: new Date().toISOString() }, null, 2) + '\n');

await bundleCli();

for (const bin of ['banger', 'bangerd']) {
  const p = join(root, 'dist/bin', `${bin}.js`);
  if (existsSync(p)) chmodSync(p, 0o755);
}
// Test data read at run time from beside the built module: Firecracker's API description.
cpSync(join(root, 'src/testing/firecracker/firecracker-v1.16.1.yaml'), join(root, 'dist/testing/firecracker/firecracker-v1.16.1.yaml'));
await buildWebUI();

if (existsSync(join(root, 'assets'))) {
  mkdirSync(join(root, 'dist'), { recursive: true });
}

/**
 * The web UI: type-checked on its own (DOM types, JSX), bundled by esbuild into dist/web-assets with
 * hashed names (the terminal's xterm.js in a chunk of its own, loaded only on that page), and its
 * sizes printed.
 */
async function buildWebUI() {
  const { build } = await import('esbuild');
  const { gzipSync } = await import('node:zlib');
  const ui = join(root, 'src/web-ui');
  const out = join(root, 'dist/web-assets');
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(ui, 'tsconfig.json')], { stdio: 'inherit' });
  const result = await build({
    entryPoints: { main: join(ui, 'main.tsx'), style: join(ui, 'style.css') },
    outdir: join(out, 'assets'),
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    sourcemap: false,
    target: ['chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const entry = (name) => outputs.find(([, o]) => o.entryPoint === `src/web-ui/${name}`)?.[0];
  const js = entry('main.tsx');
  const css = entry('style.css');
  if (!js || !css) throw new Error('web UI build: entry outputs missing');
  const base = (p) => p.slice(p.lastIndexOf('/') + 1);
  const html = readFileSync(join(ui, 'index.html'), 'utf8').replace('__JS__', base(js)).replace('__CSS__', base(css));
  writeFileSync(join(out, 'index.html'), html);
  const rows = [['index.html', Buffer.byteLength(html), gzipSync(html).length]];
  for (const [p] of outputs) {
    const buf = readFileSync(join(root, p));
    rows.push([p.replace(/^dist\/web-assets\//, ''), buf.length, gzipSync(buf, { level: 9 }).length]);
  }
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log('web UI bundle (raw, gzip):');
  for (const [name, raw, gz] of rows) console.log(`  ${name.padEnd(34)} ${kb(raw).padStart(10)} ${kb(gz).padStart(10)}`);
  const first = rows.filter(([n]) => n === 'index.html' || n === `assets/${base(js)}` || n === `assets/${base(css)}` || (n.startsWith('assets/chunk-') && result.metafile.outputs[js].imports.some((i) => !i.kind.includes('dynamic') && i.path.endsWith(n.slice(7)))));
  console.log(`  first load (html, main js, css and their static chunks): ${kb(first.reduce((a, [, , g]) => a + g, 0))} gzip`);
}

/**
 * The CLI, which starts afresh for every command, as one module and a few chunks in dist/bin: one file
 * read at start instead of about a hundred modules resolved and loaded one by one. Commands imported
 * lazily stay in chunks of their own, and packages stay in node_modules. Everything else in dist
 * (daemon, SDK, tests) stays as tsc wrote it. A module that finds a file through `import.meta.url` does
 * so from dist/bin here: the build fails when such a file is not there.
 */
async function bundleCli() {
  const { build } = await import('esbuild');
  const bin = join(root, 'dist/bin');
  const result = await build({
    entryPoints: { banger: join(bin, 'banger.js') },
    outdir: bin,
    allowOverwrite: true,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    chunkNames: 'banger-[hash]',
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
  });
  for (const out of Object.keys(result.metafile.outputs).filter((p) => p.endsWith('.js'))) {
    const text = readFileSync(join(root, out), 'utf8');
    for (const m of text.matchAll(/new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g)) {
      if (!existsSync(join(dirname(join(root, out)), m[1]))) throw new Error(`CLI bundle: ${out} looks for ${m[1]} beside itself, which is not there`);
    }
  }
}
