/** Runs the real CLI command tree in-process with a private BANGER_HOME and captured output. */
import { mkdtempSync, rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { runCli } from '../cli/main.js';
import type { CliIO } from '../cli/io.js';
import { ApiClient } from '../api/client.js';
import { resolveLayout, type Layout } from '../config/paths.js';
import { listProcesses, pidAlive, signalProcess, waitForExit } from '../system/proc.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

class Capture extends PassThrough {
  text = '';
  isTTY = false;
  constructor() {
    super();
    this.on('data', (c: Buffer) => (this.text += c.toString()));
  }
}

export class CliHarness {
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;

  /** `home` reuses a given directory (e.g. restored from a template); by default a new one is made. */
  constructor(extraEnv: NodeJS.ProcessEnv = {}, home?: string) {
    this.home = home ?? mkdtempSync('/tmp/bh-');
    this.env = { ...process.env, BANGER_HOME: this.home, NO_COLOR: '1', ...extraEnv };
    delete this.env.BANGER_SOCKET;
  }

  get layout(): Layout {
    return resolveLayout({ env: this.env });
  }

  client(): ApiClient {
    return new ApiClient(this.layout.socketPath);
  }

  async run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const stdout = new Capture();
    const stderr = new Capture();
    const stdin = new PassThrough();
    stdin.end();
    const io: CliIO = { stdout, stderr, stdin, env: { ...this.env, ...env } };
    const code = await runCli(args, io);
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  /** Stops the daemon (if any) and removes the home directory. */
  async cleanup(): Promise<void> {
    const client = this.client();
    let pid: number | undefined;
    try {
      pid = (await client.get<{ pid: number }>('/ping', { timeoutMs: 2000 })).pid;
      await client.post('/shutdown');
    } catch {
      /* not running */
    }
    if (pid) {
      const deadline = Date.now() + 10_000;
      while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    // VM processes outlive the daemon by design; a test's VMs must not outlive the test.
    const leftovers = listProcesses().filter((p) => p.argv.some((a) => a.includes(this.home)));
    for (const p of leftovers) signalProcess(p.pid, 'SIGKILL');
    for (const p of leftovers) await waitForExit(p.pid, 5000);
    rmSync(this.home, { recursive: true, force: true });
  }
}
