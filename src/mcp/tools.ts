/** The MCP tools: their descriptions for a model, their input schemas, and what each does through the SDK. */
import { Banger, BangerError, ExecTimeoutError, type VM } from '../sdk/index.js';
import { checkCreate, checkDelete, imageFor, owned, PolicyRefusal, vmName, type Policy } from './policy.js';

/** Bytes of output (each stream) and of a file a tool returns; the rest is cut with a line saying how much. */
export const OUTPUT_LIMIT = 32 * 1024;
const MAX_TIMEOUT_S = 600;

export interface ToolResult {
  [key: string]: unknown;
  content: { type: 'text'; text: string }[];
  isError?: boolean;
}

type JsonSchema = { type: 'object'; properties: Record<string, object>; required?: string[]; additionalProperties: false };

export interface Tool {
  name: string;
  description: string;
  inputSchema: JsonSchema;
  run: (args: Args, env: ToolEnv) => Promise<string>;
}

export interface ToolEnv {
  banger: Banger;
  policy: Policy;
}

/** A malformed call: reported as a tool error naming the argument. */
export class BadArguments extends Error {}

/** Typed access to a call's arguments, checked against what the tool declared. */
export class Args {
  constructor(private readonly raw: Record<string, unknown>) {}

  str(key: string): string {
    const v = this.optStr(key);
    if (v === undefined) throw new BadArguments(`missing required argument ${key} (a string)`);
    return v;
  }

  optStr(key: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new BadArguments(`argument ${key} must be a string`);
    return v;
  }

  optInt(key: string, min: number, max: number): number | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new BadArguments(`argument ${key} must be a whole number from ${min} to ${max}`);
    return v;
  }
}

/** `text`, cut to OUTPUT_LIMIT bytes with a line saying how many were cut. */
export function truncate(text: Buffer | string, limit = OUTPUT_LIMIT): string {
  const b = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  if (b.length <= limit) return b.toString('utf8');
  return `${b.subarray(0, limit).toString('utf8')}\n[output truncated: ${b.length - limit} bytes cut]`;
}

async function ours(env: ToolEnv, name: string): Promise<VM> {
  if (!owned(env.policy, name)) throw new PolicyRefusal(`policy: ${name} was not created by this server (its sandboxes are named ${env.policy.namePrefix}*); sandbox_list shows them`);
  return env.banger.vms.get(name);
}

async function ourVMs(env: ToolEnv): Promise<VM[]> {
  return (await env.banger.vms.list()).filter((v) => owned(env.policy, v.name));
}

const nameArg = { type: 'string', description: 'The sandbox name, as sandbox_create or sandbox_list returned it.' };

export const TOOLS: readonly Tool[] = [
  {
    name: 'sandbox_create',
    description:
      'Create and boot a new isolated Linux sandbox (a microVM with root access, a persistent /root, and network access). ' +
      'Use it once at the start of a task, then run commands with sandbox_exec. Takes a few seconds (longer the first time). ' +
      'Returns the sandbox name to pass to the other tools. The server may limit how many sandboxes exist and which images are allowed.',
    inputSchema: {
      type: 'object',
      properties: {
        image: { type: 'string', description: 'Image to boot (default: the configured default image, e.g. debian-bookworm).' },
        name: { type: 'string', description: 'Optional short name (lowercase a-z, 0-9, -); the server prefixes it.' },
        vcpu: { type: 'integer', minimum: 1, maximum: 64, description: 'Virtual CPUs (default from the configuration).' },
        memoryMiB: { type: 'integer', minimum: 128, maximum: 262144, description: 'Memory in MiB (default from the configuration).' },
      },
      additionalProperties: false,
    },
    async run(args, env) {
      const image = args.optStr('image');
      const vcpu = args.optInt('vcpu', 1, 64);
      const memoryMiB = args.optInt('memoryMiB', 128, 262144);
      const name = vmName(env.policy, args.optStr('name'));
      checkCreate(env.policy, image, (await ourVMs(env)).length);
      const chosen = imageFor(env.policy, image);
      const vm = await env.banger.vms.create({ name, ...(chosen ? { image: chosen } : {}), ...(vcpu ? { vcpu } : {}), ...(memoryMiB ? { memoryMiB } : {}) });
      return `created sandbox ${vm.name} (image ${vm.info.imageName ?? vm.info.imageId}, ${vm.info.spec.vcpu} vcpu, ${vm.info.spec.memoryMiB} MiB), state ${vm.state}`;
    },
  },
  {
    name: 'sandbox_exec',
    description:
      'Run a shell command (sh -c) as root in a running sandbox and return its exit code, stdout and stderr. ' +
      `Each stream is cut to ${OUTPUT_LIMIT} bytes (a final line says how many were cut): redirect big output to a file and read parts of it. ` +
      'No terminal and no stdin: interactive programs will not work. Each call is a fresh shell (cd and export do not carry over; use cwd or chain with &&).',
    inputSchema: {
      type: 'object',
      properties: {
        name: nameArg,
        command: { type: 'string', description: 'The command line, run by sh -c.' },
        timeoutSeconds: { type: 'integer', minimum: 1, maximum: MAX_TIMEOUT_S, description: 'Kill the command after this many seconds (default 60).' },
        cwd: { type: 'string', description: 'Working directory (default /root).' },
      },
      required: ['name', 'command'],
      additionalProperties: false,
    },
    async run(args, env) {
      const name = args.str('name');
      const command = args.str('command');
      const timeoutS = args.optInt('timeoutSeconds', 1, MAX_TIMEOUT_S) ?? 60;
      const cwd = args.optStr('cwd');
      const vm = await ours(env, name);
      try {
        const r = await vm.exec(command, { timeoutMs: timeoutS * 1000, ...(cwd ? { cwd } : {}) });
        return `exit code: ${r.exitCode}\n--- stdout ---\n${truncate(r.stdout)}\n--- stderr ---\n${truncate(r.stderr)}`;
      } catch (err) {
        if (err instanceof ExecTimeoutError) {
          throw new BangerError('operation_failed', `timed out after ${timeoutS} s and was killed\n--- stdout ---\n${truncate(err.stdout)}\n--- stderr ---\n${truncate(err.stderr)}`);
        }
        throw err;
      }
    },
  },
  {
    name: 'file_read',
    description: `Read a file from a sandbox as UTF-8 text (cut to ${OUTPUT_LIMIT} bytes, with a line saying how many were cut). For binary files use sandbox_exec with base64 or xxd.`,
    inputSchema: { type: 'object', properties: { name: nameArg, path: { type: 'string', description: 'Absolute path in the sandbox.' } }, required: ['name', 'path'], additionalProperties: false },
    async run(args, env) {
      const vm = await ours(env, args.str('name'));
      return truncate(await vm.files.read(args.str('path')));
    },
  },
  {
    name: 'file_write',
    description: 'Write a text file in a sandbox, replacing it whole and creating missing directories. Use it for source files and configs instead of shell here-documents.',
    inputSchema: {
      type: 'object',
      properties: {
        name: nameArg,
        path: { type: 'string', description: 'Absolute path in the sandbox.' },
        content: { type: 'string', description: 'The whole new content (UTF-8).' },
        mode: { type: 'integer', minimum: 0, maximum: 4095, description: 'Permission bits as a number, e.g. 493 for 0755 (default 420, 0644).' },
      },
      required: ['name', 'path', 'content'],
      additionalProperties: false,
    },
    async run(args, env) {
      const path = args.str('path');
      const content = args.str('content');
      const mode = args.optInt('mode', 0, 0o7777);
      const vm = await ours(env, args.str('name'));
      await vm.files.write(path, content, mode !== undefined ? { mode } : {});
      return `wrote ${Buffer.byteLength(content)} bytes to ${path}`;
    },
  },
  {
    name: 'sandbox_list',
    description: 'List the sandboxes this server created, with their state, image and size. Use it to find a sandbox to reuse before creating one.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    async run(_args, env) {
      const vms = await ourVMs(env);
      if (vms.length === 0) return 'no sandboxes';
      return vms.map((v) => `${v.name}\t${v.state}\timage=${v.info.imageName ?? v.info.imageId}\tvcpu=${v.info.spec.vcpu}\tmemory=${v.info.spec.memoryMiB}MiB`).join('\n');
    },
  },
  {
    name: 'sandbox_stop',
    description: 'Power a sandbox off (its /root is kept; it is no longer usable until started again by a person). Use it when a task is done but the files may matter.',
    inputSchema: { type: 'object', properties: { name: nameArg }, required: ['name'], additionalProperties: false },
    async run(args, env) {
      const vm = await ours(env, args.str('name'));
      await vm.stop();
      return `stopped ${vm.name}`;
    },
  },
  {
    name: 'sandbox_delete',
    description: 'Delete a sandbox and all its files, for good. Use it when a task is finished. The server may forbid it (--no-delete).',
    inputSchema: { type: 'object', properties: { name: nameArg }, required: ['name'], additionalProperties: false },
    async run(args, env) {
      checkDelete(env.policy);
      const vm = await ours(env, args.str('name'));
      await vm.delete();
      return `deleted ${vm.name}`;
    },
  },
  {
    name: 'session_start',
    description:
      'Start a long-running shell command (sh -c) in a running sandbox that keeps running after this call: a dev server, a watcher, a REPL. ' +
      'Its stdout and stderr are kept (session_output reads them), session_send writes lines to its stdin, session_stop ends it. Returns the session name.',
    inputSchema: {
      type: 'object',
      properties: {
        name: nameArg,
        command: { type: 'string', description: 'The command line, run by sh -c.' },
        session: { type: 'string', description: 'A session name (lowercase a-z, 0-9, -; default: generated).' },
        cwd: { type: 'string', description: 'Working directory (default /root).' },
      },
      required: ['name', 'command'],
      additionalProperties: false,
    },
    async run(args, env) {
      const command = args.str('command');
      const session = args.optStr('session');
      const cwd = args.optStr('cwd');
      const vm = await ours(env, args.str('name'));
      const s = await vm.sessions.start(['sh', '-c', command], { ...(session !== undefined ? { name: session } : {}), ...(cwd !== undefined ? { cwd } : {}) });
      return `started session ${s.name} in ${vm.name}, state ${s.state}`;
    },
  },
  {
    name: 'session_output',
    description: `A session's state (running, exited with its exit code, lost) and its output so far: the last ${OUTPUT_LIMIT} bytes of stdout and stderr together. Without session: every session of the sandbox and its state.`,
    inputSchema: { type: 'object', properties: { name: nameArg, session: { type: 'string', description: 'The session name.' } }, required: ['name'], additionalProperties: false },
    async run(args, env) {
      const session = args.optStr('session');
      const vm = await ours(env, args.str('name'));
      if (session === undefined) {
        const list = await vm.sessions.list();
        if (list.length === 0) return 'no sessions';
        return list.map((s) => `${s.name}	${s.state}${s.exitStatus !== undefined ? ` (exit code ${s.exitStatus})` : ''}	${s.command.join(' ')}`).join('\n');
      }
      const s = await vm.sessions.show(session);
      const out = await vm.sessions.logs(session);
      const chunks: Buffer[] = [];
      for await (const c of out.stdout) chunks.push(c);
      await out.exit;
      const all = Buffer.concat(chunks);
      const cut = all.length > OUTPUT_LIMIT ? `[${all.length - OUTPUT_LIMIT} earlier bytes cut]\n` : '';
      const state = s.state === 'exited' ? `exited, exit code ${s.exitStatus ?? '?'}` : s.state;
      return `session ${s.name}: ${state}\n--- output ---\n${cut}${all.subarray(Math.max(0, all.length - OUTPUT_LIMIT)).toString('utf8')}`;
    },
  },
  {
    name: 'session_send',
    description: "Write a line of text to a running session's stdin (a newline is added).",
    inputSchema: {
      type: 'object',
      properties: { name: nameArg, session: { type: 'string', description: 'The session name.' }, text: { type: 'string', description: 'The line to send.' } },
      required: ['name', 'session', 'text'],
      additionalProperties: false,
    },
    async run(args, env) {
      const session = args.str('session');
      const text = args.str('text');
      const vm = await ours(env, args.str('name'));
      await vm.sessions.send(session, `${text}\n`);
      return `sent ${Buffer.byteLength(text) + 1} bytes to ${session}`;
    },
  },
  {
    name: 'session_stop',
    description: 'End a session: SIGTERM, then SIGKILL after 10 seconds. Returns its exit code.',
    inputSchema: { type: 'object', properties: { name: nameArg, session: { type: 'string', description: 'The session name.' } }, required: ['name', 'session'], additionalProperties: false },
    async run(args, env) {
      const session = args.str('session');
      const vm = await ours(env, args.str('name'));
      const s = await vm.sessions.stop(session);
      return `session ${s.name}: ${s.state}${s.exitStatus !== undefined ? `, exit code ${s.exitStatus}` : ''}`;
    },
  },
];

/** Runs a tool call: every failure (unknown tool, bad arguments, policy, banger errors) is an error result. */
export async function callTool(env: ToolEnv, name: string, raw: unknown): Promise<ToolResult> {
  const tool = TOOLS.find((t) => t.name === name);
  const fail = (text: string): ToolResult => ({ content: [{ type: 'text', text }], isError: true });
  if (!tool) return fail(`unknown tool ${name}; the tools are ${TOOLS.map((t) => t.name).join(', ')}`);
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) return fail('arguments must be an object');
  const given = (raw ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => !(k in tool.inputSchema.properties));
  if (unknown.length > 0) return fail(`unknown argument ${unknown.join(', ')} for ${name}`);
  try {
    return { content: [{ type: 'text', text: await tool.run(new Args(given), env) }] };
  } catch (err) {
    if (err instanceof BangerError) return fail(`${err.code}: ${err.message}${err.hint ? `\nhint: ${err.hint}` : ''}`);
    if (err instanceof BadArguments || err instanceof PolicyRefusal) return fail(err.message);
    return fail(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}
