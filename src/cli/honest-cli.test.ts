import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ConfigView } from '../api/types.js';
import { CliHarness } from '../testing/cli-harness.js';
import { makeRegisterFiles, registerFixtureSkipReason } from '../testing/register-fixture.js';
import { NOT_YET_AVAILABLE } from './context.js';
import { buildProgram } from './main.js';
import { processIO } from './io.js';

function allCommands(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return cmd.commands.flatMap((c) => [{ path: [...path, c.name()], cmd: c }, ...allCommands(c, [...path, c.name()])]);
}

describe('the CLI says what is not there yet', () => {
  const h = new CliHarness();
  after(() => h.cleanup());

  it('ends the help of every unbuilt command with "(not yet available)", and running one exits 5', async () => {
    const unbuilt = allCommands(buildProgram(processIO()).program).filter((c) => c.cmd.description().endsWith(NOT_YET_AVAILABLE));
    const pull = await h.run(['kernel', 'pull', '--help']);
    assert.equal(pull.code, 0);
    assert.doesNotMatch(pull.stdout, /not yet available/, 'kernel pull is built');
    const group = await h.run(['vm', '--help']);
    assert.match(group.stdout, /ports <names\.\.\.> +List listening TCP\/UDP sockets/, 'a built command is listed');
    const ports = await h.run(['vm', 'ports', '--help']);
    assert.doesNotMatch(ports.stdout, /not yet available/, 'and not marked');
    for (const c of unbuilt.filter((u) => u.cmd.commands.length === 0)) {
      const args = [...c.path, ...c.cmd.registeredArguments.map(() => 'x')];
      const r = await h.run(args);
      assert.equal(r.code, 5, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /is not available yet/);
    }
  });

  it('config show marks the keys nothing reads yet', async () => {
    const text = await h.run(['config', 'show']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^default_dns = "1.1.1.1" {2}# default \(not in effect yet\)$/m);
    assert.match(text.stdout, /^web_listen_addr = "" {2}# default$/m, 'the web UI reads it');
    assert.match(text.stdout, /^log_level = "info" {2}# default$/m, 'keys in effect carry no mark');
    const json = JSON.parse((await h.run(['--json', 'config', 'show'])).stdout) as ConfigView;
    const key = (k: string) => json.keys.find((x) => x.key === k);
    assert.equal(key('default_dns')?.inEffect, false);
    assert.equal(key('bridge_name')?.inEffect, true, 'bridge mode reads it');
    assert.equal(key('qemu_bin')?.inEffect, true);
    assert.equal(key('file_sync')?.inEffect, true, 'file_sync is applied at every start');
    assert.equal(json.config.default_image_name, 'debian-bookworm', 'the old fields stay');
  });

  it('checks --root-size on the client, naming the flag (exit 2)', async () => {
    for (const verb of ['create', 'run']) {
      const r = await h.run(['vm', verb, '--root-size', 'nope']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /option '--root-size <size>' argument 'nope' is invalid/);
    }
    const help = await h.run(['vm', 'create', '--help']);
    assert.ok(
      help.stdout.replace(/\s+/g, ' ').includes("--root-size <size> virtual size of the root disk; the guest's / grows to it (default vm_defaults.system_overlay_size, 8G)"),
      help.stdout,
    );
  });
});

describe('a failing host tool', { skip: registerFixtureSkipReason() }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'banger-tool-'));
  const bin = join(scratch, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'cp'), "#!/bin/sh\necho \"cp: error writing '$6': No space left on device\" >&2\nexit 1\n");
  chmodSync(join(bin, 'cp'), 0o755);
  const h = new CliHarness({ PATH: `${bin}:${process.env.PATH ?? ''}` });
  after(async () => {
    await h.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('is operation_failed naming the tool and its last line; --debug adds the causes', async () => {
    const files = await makeRegisterFiles(scratch);
    const reg = await h.run(['image', 'register', '--name', 'mine', '--rootfs', files.rootfs, '--kernel', files.kernel]);
    assert.equal(reg.code, 0, reg.stderr);
    const r = await h.run(['image', 'promote', 'mine']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^banger: cp failed: cp: error writing '.*': No space left on device \(op-[0-9a-f]+\)$/m);
    assert.doesNotMatch(r.stderr, /cause:/, 'causes only with --debug');
    const d = await h.run(['--debug', 'image', 'promote', 'mine']);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /^cause: ExecError: cp exited with status 1: cp: error writing/m);
    const j = await h.run(['--json', 'image', 'promote', 'mine']);
    const env = (JSON.parse(j.stderr.trim().split('\n').at(-1)!) as { error: { code: string; causes?: string[] } }).error;
    assert.equal(env.code, 'operation_failed');
    assert.match(env.causes?.[0] ?? '', /^ExecError: cp exited/);
  });
});
