/** `banger mcp` spawned as an MCP client would, against a real daemon with the fake driver. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';

const BANGER = fileURLToPath(new URL('../bin/banger.js', import.meta.url));

interface Result {
  content: { type: string; text: string }[];
  isError?: boolean;
}

const text = (r: unknown) => (r as Result).content.map((c) => c.text).join('');

describe('banger mcp', () => {
  let h: CliHarness;
  let client: Client;

  before(async () => {
    h = await tinyImageHome();
    const env = Object.fromEntries(Object.entries(h.env).filter((e): e is [string, string] => e[1] !== undefined));
    const transport = new StdioClientTransport({ command: process.execPath, args: [BANGER, 'mcp', '--max-vms', '1', '--allow-images', 'tiny'], env, stderr: 'pipe' });
    client = new Client({ name: 'banger-test', version: '0' });
    await client.connect(transport);
  });
  after(async () => {
    await client.close();
    await h.run(['vm', 'delete', 'mcp-one']);
    await h.cleanup();
  });

  it('lists the tools, each with a description and a schema', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [
      'file_read',
      'file_write',
      'sandbox_create',
      'sandbox_delete',
      'sandbox_exec',
      'sandbox_list',
      'sandbox_stop',
      'session_output',
      'session_send',
      'session_start',
      'session_stop',
    ]);
    for (const t of tools) assert.ok(t.description && t.description.length > 40 && t.inputSchema.type === 'object', t.name);
  });

  it('creates a sandbox and runs a command in it', async () => {
    const created = await client.callTool({ name: 'sandbox_create', arguments: { name: 'one' } });
    assert.ok(!created.isError, text(created));
    assert.match(text(created), /created sandbox mcp-one/);
    const r = await client.callTool({ name: 'sandbox_exec', arguments: { name: 'mcp-one', command: 'echo hi; exit 4' } });
    assert.ok(!r.isError, text(r));
    assert.equal(text(r), 'exit code: 4\n--- stdout ---\nhi\n\n--- stderr ---\n');
    const listed = await client.callTool({ name: 'sandbox_list', arguments: {} });
    assert.match(text(listed), /^mcp-one\trunning\timage=tiny/);
  });

  it('writes a file and reads it back; big output is cut with a note', async () => {
    const path = join(h.home, 'from-mcp', 'notes.txt');
    const w = await client.callTool({ name: 'file_write', arguments: { name: 'mcp-one', path, content: 'héllo\n' } });
    assert.ok(!w.isError, text(w));
    const r = await client.callTool({ name: 'file_read', arguments: { name: 'mcp-one', path } });
    assert.equal(text(r), 'héllo\n');
    const big = await client.callTool({ name: 'sandbox_exec', arguments: { name: 'mcp-one', command: 'head -c 40000 /dev/zero | tr "\\0" x' } });
    assert.match(text(big), /\[output truncated: 7232 bytes cut\]/);
  });

  it('starts a session, sends it a line, reads its output and stops it', async () => {
    const started = await client.callTool({ name: 'session_start', arguments: { name: 'mcp-one', session: 'repl', command: 'echo ready; while read l; do echo "got $l"; done' } });
    assert.ok(!started.isError, text(started));
    assert.match(text(started), /started session repl in mcp-one, state running/);
    const sent = await client.callTool({ name: 'session_send', arguments: { name: 'mcp-one', session: 'repl', text: 'hello' } });
    assert.ok(!sent.isError, text(sent));
    let out = '';
    for (let i = 0; i < 100 && !out.includes('got hello'); i++) {
      out = text(await client.callTool({ name: 'session_output', arguments: { name: 'mcp-one', session: 'repl' } }));
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(out, 'session repl: running\n--- output ---\nready\ngot hello\n');
    const listed = await client.callTool({ name: 'session_output', arguments: { name: 'mcp-one' } });
    assert.match(text(listed), /^repl\trunning\tsh -c /);
    const stopped = await client.callTool({ name: 'session_stop', arguments: { name: 'mcp-one', session: 'repl' } });
    assert.equal(text(stopped), 'session repl: exited, exit code 143');
  });

  it('refuses a second sandbox under --max-vms 1 and an image outside --allow-images', async () => {
    const second = await client.callTool({ name: 'sandbox_create', arguments: { name: 'two' } });
    assert.equal(second.isError, true);
    assert.match(text(second), /at most 1 sandbox/);
    const other = await client.callTool({ name: 'sandbox_create', arguments: { image: 'debian-bookworm' } });
    assert.equal(other.isError, true);
    assert.match(text(other), /not allowed/);
  });

  it('answers a malformed call with a tool error and keeps serving', async () => {
    const bad = await client.callTool({ name: 'sandbox_exec', arguments: { name: 'mcp-one' } });
    assert.equal(bad.isError, true);
    assert.match(text(bad), /missing required argument command/);
    const wrongType = await client.callTool({ name: 'sandbox_exec', arguments: { name: 'mcp-one', command: 'true', timeoutSeconds: 'soon' } });
    assert.equal(wrongType.isError, true);
    const notOurs = await client.callTool({ name: 'sandbox_exec', arguments: { name: 'somebody-else', command: 'true' } });
    assert.equal(notOurs.isError, true);
    const ok = await client.callTool({ name: 'sandbox_exec', arguments: { name: 'mcp-one', command: 'echo still here' } });
    assert.match(text(ok), /still here/);
  });
});
