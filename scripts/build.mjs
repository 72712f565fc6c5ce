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

for (const bin of ['banger', 'bangerd']) {
  const p = join(root, 'dist/bin', `${bin}.js`);
  if (existsSync(p)) chmodSync(p, 0o755);
}
// Test data read at run time from beside the built module: Firecracker's API description.
cpSync(join(root, 'src/testing/firecracker/firecracker-v1.16.1.yaml'), join(root, 'dist/testing/firecracker/firecracker-v1.16.1.yaml'));
if (existsSync(join(root, 'assets'))) {
  mkdirSync(join(root, 'dist'), { recursive: true });
}
