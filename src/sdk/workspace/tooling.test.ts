import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectTooling, nodeVersionOf, sourcesFor } from './tooling.js';

const repo = (files: Record<string, string>): string => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-tooling-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
};

describe('tooling detection', () => {
  it('reads go.mod, package.json engines, .python-version and rust-toolchain.toml', () => {
    const plan = detectTooling(
      repo({
        'go.mod': 'module example.org/x\n\ngo 1.22.1\n',
        'package.json': JSON.stringify({ name: 'x', engines: { node: '>=20.11 <21' } }),
        '.python-version': '3.12.3\n',
        'rust-toolchain.toml': '[toolchain]\nchannel = "1.78.0"\ncomponents = ["clippy"]\n',
      }),
    );
    assert.deepEqual(plan, {
      miseFiles: [],
      pins: [
        { tool: 'go', version: '1.22.1', source: 'go.mod' },
        { tool: 'node', version: '20.11', source: 'package.json engines.node' },
        { tool: 'python', version: '3.12.3', source: '.python-version' },
        { tool: 'rust', version: '1.78.0', source: 'rust-toolchain.toml' },
      ],
    });
    assert.deepEqual(sourcesFor(plan), ['dl.google.com', 'github.com', 'go.dev', 'mise.jdx.dev', 'nodejs.org', 'objects.githubusercontent.com', 'sh.rustup.rs', 'static.rust-lang.org']);
  });
  it("prefers go.mod's toolchain line; reads a plain rust-toolchain; leaves mise's own files to mise", () => {
    const plan = detectTooling(repo({ 'go.mod': 'module m\ngo 1.21\ntoolchain go1.22.4\n', 'rust-toolchain': 'stable\n', '.tool-versions': 'node 20.1.0\n', '.mise.toml': '[tools]\n' }));
    assert.deepEqual(plan.miseFiles, ['.mise.toml', '.tool-versions']);
    assert.deepEqual(plan.pins.map((p) => `${p.tool}@${p.version}`), ['go@1.22.4', 'rust@stable']);
  });
  it('finds nothing in a checkout that pins nothing, and ignores what is not a version', () => {
    assert.deepEqual(detectTooling(repo({ 'README.md': 'x' })), { pins: [], miseFiles: [] });
    const odd = detectTooling(repo({ 'package.json': '{not json', '.python-version': '$(rm -rf /)\n', 'go.mod': 'module m\n' }));
    assert.deepEqual(odd.pins, []);
  });
  it('turns engines ranges into versions mise takes', () => {
    assert.equal(nodeVersionOf('^18'), '18');
    assert.equal(nodeVersionOf('20.x'), '20');
    assert.equal(nodeVersionOf('>=16.14.0'), '16.14.0');
    assert.equal(nodeVersionOf('*'), undefined);
  });
});
