import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectTooling, miseTomlTools, nodeVersionOf, sourcesFor, toolVersionsTools } from './tooling.js';
import { scratchDir } from '../../testing/scratch-dir.js';

const repo = (files: Record<string, string>): string => {
  const dir = scratchDir('banger-tooling-');
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
      miseTools: [],
      pins: [
        { tool: 'go', version: '1.22.1', source: 'go.mod' },
        { tool: 'node', version: '20.11', source: 'package.json engines.node' },
        { tool: 'python', version: '3.12.3', source: '.python-version' },
        { tool: 'rust', version: '1.78.0', source: 'rust-toolchain.toml' },
      ],
    });
    assert.deepEqual(sourcesFor(plan), [
      'api.github.com',
      'dl.google.com',
      'github.com',
      'go.dev',
      'mise-versions.jdx.dev',
      'mise.jdx.dev',
      'nodejs.org',
      'objects.githubusercontent.com',
      'release-assets.githubusercontent.com',
      'sh.rustup.rs',
      'static.rust-lang.org',
    ]);
    const nodeOnly = detectTooling(repo({ 'package.json': JSON.stringify({ engines: { node: '^20' } }) }));
    assert.deepEqual(sourcesFor(nodeOnly), ['mise-versions.jdx.dev', 'mise.jdx.dev', 'nodejs.org']);
  });
  it("prefers go.mod's toolchain line; reads a plain rust-toolchain; leaves mise's own files to mise", () => {
    const plan = detectTooling(repo({ 'go.mod': 'module m\ngo 1.21\ntoolchain go1.22.4\n', 'rust-toolchain': 'stable\n', '.tool-versions': 'node 20.1.0\n', '.mise.toml': '[tools]\n' }));
    assert.deepEqual(plan.miseFiles, ['.mise.toml', '.tool-versions']);
    assert.deepEqual(plan.miseTools, ['node']);
    assert.deepEqual(plan.pins.map((p) => `${p.tool}@${p.version}`), ['go@1.22.4', 'rust@stable']);
  });
  it('finds nothing in a checkout that pins nothing, and ignores what is not a version', () => {
    assert.deepEqual(detectTooling(repo({ 'README.md': 'x' })), { pins: [], miseFiles: [], miseTools: [] });
    const odd = detectTooling(repo({ 'package.json': '{not json', '.python-version': '$(rm -rf /)\n', 'go.mod': 'module m\n' }));
    assert.deepEqual(odd.pins, []);
  });
  it('turns engines ranges into versions mise takes', () => {
    assert.equal(nodeVersionOf('^18'), '18');
    assert.equal(nodeVersionOf('20.x'), '20');
    assert.equal(nodeVersionOf('>=16.14.0'), '16.14.0');
    assert.equal(nodeVersionOf('*'), undefined);
  });
  it("names the egress of the tools mise's own files name: npm: tools come from the npm registry", () => {
    const toml = '[env]\nFOO = "1"\n[tools]\nnode = "20"\n"npm:@anthropic-ai/claude-code" = "latest" # the agent\njq = "1.7"\n[tools.python]\nversion = "3.12"\n[settings]\nexperimental = true\n';
    assert.deepEqual(miseTomlTools(toml), ['node', 'npm:@anthropic-ai/claude-code', 'jq', 'python']);
    assert.deepEqual(toolVersionsTools('# pins\nnodejs 20.1.0\n\npipx:black 24.1 # fmt\n'), ['nodejs', 'pipx:black']);
    const plan = detectTooling(repo({ 'mise.toml': '[tools]\nnode = "22"\n"npm:cowsay" = "1.6.0"\n' }));
    assert.deepEqual(plan, { pins: [], miseFiles: ['mise.toml'], miseTools: ['node', 'npm:cowsay'] });
    assert.deepEqual(sourcesFor(plan), ['mise-versions.jdx.dev', 'mise.jdx.dev', 'nodejs.org', 'registry.npmjs.org']);
    const pipx = detectTooling(repo({ '.tool-versions': 'pipx:black 24.1\n' }));
    assert.deepEqual(sourcesFor(pipx), ['files.pythonhosted.org', 'mise-versions.jdx.dev', 'mise.jdx.dev', 'pypi.org']);
  });
});
