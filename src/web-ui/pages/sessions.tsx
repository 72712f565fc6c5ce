/**
 * Guest sessions of one VM (chosen in a selector): start one, list them with their state and exit
 * status, and for the selected one its output (followed while it runs), a line to its stdin, stop,
 * kill and remove. Loaded on demand, so the other pages do not carry it.
 */
import { useState } from 'preact/hooks';
import type { SendSessionResult, SessionInfo, StartSessionRequest } from '../../api/sessions.js';
import type { VMInfo } from '../../api/types.js';
import { api, enc, follow } from '../api.js';
import { ago } from '../format.js';
import { useLive, vmByName } from '../live.js';
import { ErrorBox, StateBadge, useLoad } from './common.js';
import { SessionLog } from './session-log.js';

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 9: 'SIGKILL', 15: 'SIGTERM' };

function endText(s: SessionInfo): string {
  if (s.state === 'exited' && s.exitStatus !== undefined) {
    const sig = s.exitStatus > 128 ? SIGNALS[s.exitStatus - 128] : undefined;
    return `exit status ${s.exitStatus}${sig ? ` (${sig})` : ''}`;
  }
  if (s.state === 'lost') return 'ended without a status';
  return '';
}

/** The command as typed: a `sh -c` line as its line, other argvs with their spaced words quoted. */
function commandText(argv: string[]): string {
  if (argv.length === 3 && argv[0] === 'sh' && argv[1] === '-c') return argv[2]!;
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const go = (vm: string, session?: string) => {
  location.hash = `#/sessions/${enc(vm)}${session ? `/${enc(session)}` : ''}`;
};

function StartForm({ vm, running, onStarted }: { vm: string; running: boolean; onStarted: (s: SessionInfo) => void }) {
  const [form, setForm] = useState({ name: '', cwd: '', command: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const req: StartSessionRequest = { command: ['sh', '-c', form.command] };
    if (form.name.trim()) req.name = form.name.trim();
    if (form.cwd.trim()) req.cwd = form.cwd.trim();
    try {
      const opId = await api.start('POST', `/vms/${enc(vm)}/sessions`, req);
      onStarted(await follow<SessionInfo>(opId, () => undefined));
      setForm({ name: '', cwd: '', command: '' });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form session-start" onSubmit={(e) => void submit(e)} data-testid="session-start">
      <label>
        command <span class="muted">(run by sh -c in the guest; it outlives this page and the daemon)</span>
        <input name="command" value={form.command} onInput={set('command')} required placeholder="python3 -m http.server 8000" />
      </label>
      <div class="row">
        <label>
          name <input name="name" value={form.name} onInput={set('name')} placeholder="generated when empty" pattern="[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?" />
        </label>
        <label>
          working directory <input name="cwd" value={form.cwd} onInput={set('cwd')} placeholder="/root" />
        </label>
      </div>
      <div>
        <button type="submit" disabled={busy || !running}>
          {busy ? 'Starting…' : 'Start session'}
        </button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}

type Act = 'stop' | 'kill' | 'remove';

function Panel({ vm, s, running, changed }: { vm: string; s: SessionInfo; running: boolean; changed: (s?: SessionInfo) => void }) {
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [signal, setSignal] = useState('SIGKILL');
  const [line, setLine] = useState('');
  const path = `/vms/${enc(vm)}/sessions/${enc(s.name)}`;
  const live = s.state === 'running';
  const doing = async (what: string, fn: () => Promise<void>) => {
    setBusy(what);
    setError(undefined);
    try {
      await fn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(undefined);
    }
  };
  const act = (a: Act) => {
    const ask = { stop: `Stop session ${s.name}? It gets SIGTERM, then SIGKILL after 10 s.`, kill: `Send ${signal} to session ${s.name}?`, remove: `Remove session ${s.name} and its output in the guest?` }[a];
    if (!confirm(ask)) return;
    void doing(a, async () => {
      if (a === 'remove') {
        await api.del(path);
        changed();
        go(vm);
        return;
      }
      const opId = await api.start('POST', `${path}/${a}`, a === 'kill' ? { signal } : undefined);
      changed(await follow<SessionInfo>(opId, () => undefined));
    });
  };
  const send = (e: Event) => {
    e.preventDefault();
    void doing('send', async () => {
      await api.post<SendSessionResult>(`${path}/input`, { data: `${line}\n` });
      setLine('');
    });
  };
  return (
    <div class="session-panel" data-testid="session-panel">
      <h2>
        {s.name} <StateBadge state={s.state} /> <span data-testid="exit-status">{endText(s)}</span>
      </h2>
      <p class="muted">
        <code>{commandText(s.command)}</code> in {s.cwd ?? '~'}, started {ago(s.startedAt)}
        {s.endedAt && `, ended ${ago(s.endedAt)}`}
      </p>
      {running && (
        <div class="actions">
          {live && (
            <>
              <button class="danger" disabled={busy !== undefined} onClick={() => act('stop')} data-action="stop">
                {busy === 'stop' ? 'Stopping…' : 'Stop'}
              </button>
              <select value={signal} onChange={(e) => setSignal(e.currentTarget.value)} aria-label="signal">
                {['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP'].map((x) => (
                  <option key={x}>{x}</option>
                ))}
              </select>
              <button class="danger" disabled={busy !== undefined} onClick={() => act('kill')} data-action="kill">
                {busy === 'kill' ? 'Sending…' : 'Kill'}
              </button>
            </>
          )}
          {!live && (
            <button class="danger" disabled={busy !== undefined} onClick={() => act('remove')} data-action="remove">
              Remove
            </button>
          )}
        </div>
      )}
      {running && live && (
        <form class="actions" onSubmit={send}>
          <input name="line" value={line} onInput={(e) => setLine(e.currentTarget.value)} placeholder="a line for its stdin" size={50} />
          <button type="submit" disabled={busy !== undefined}>
            Send
          </button>
        </form>
      )}
      <ErrorBox error={error} />
      {running ? <SessionLog vm={vm} info={s} onEnd={(now) => changed(now)} /> : <p class="muted">Its output is read from the running guest: start the VM to see it.</p>}
    </div>
  );
}

function pickVM(vms: VMInfo[]): string | undefined {
  return (vms.find((v) => v.state === 'running') ?? vms[0])?.name;
}

export function Sessions({ vm: asked, session }: { vm?: string; session?: string }) {
  const live = useLive();
  const vms = [...live.vms.values()].sort((a, b) => a.name.localeCompare(b.name));
  const name = asked ?? pickVM(vms);
  const info = name ? vmByName(name) : undefined;
  const running = info?.state === 'running';
  const [list, error, reload] = useLoad(() => (name ? api.get<SessionInfo[]>(`/vms/${enc(name)}/sessions`) : Promise.resolve([])), [name, info?.state]);
  const [latest, setLatest] = useState<SessionInfo | undefined>(undefined);
  const changed = (s?: SessionInfo) => {
    setLatest(s);
    reload();
  };
  const listed = list?.find((x) => x.name === session);
  const selected = listed ?? (latest?.name === session && latest?.vm === name ? latest : undefined);

  return (
    <section data-testid="sessions">
      <h1>
        Sessions
        <select value={name ?? ''} onChange={(e) => go(e.currentTarget.value)} data-testid="session-vm" aria-label="VM">
          {!name && <option value="">no VMs</option>}
          {vms.map((v) => (
            <option key={v.id} value={v.name}>
              {v.name} ({v.state})
            </option>
          ))}
          {name && !info && <option value={name}>{name} (not found)</option>}
        </select>
        {name && info && (
          <a class="small-link" href={`#/vms/${enc(name)}`}>
            VM page
          </a>
        )}
      </h1>
      {!name ? (
        <p class="muted">No VMs yet. <a href="#/create">Create one</a>, then run long commands in it here.</p>
      ) : (
        <>
          {!running && <p class="muted">{name} is {info?.state ?? 'not found'}: sessions start, and their state and output are read, only while it runs.</p>}
          <StartForm vm={name} running={running} onStarted={(s) => {
              changed(s);
              go(name, s.name);
            }} />
          <ErrorBox error={error} />
          <h2>
            In {name} <button class="small" onClick={reload} data-testid="session-refresh">Refresh</button>
          </h2>
          {list && list.length === 0 && <p class="muted">No sessions in {name}.</p>}
          {list && list.length > 0 && (
            <table data-testid="session-table">
              <thead>
                <tr>
                  <th>name</th>
                  <th>state</th>
                  <th>exit</th>
                  <th>command</th>
                  <th>started</th>
                </tr>
              </thead>
              <tbody>
                {list.map((s) => (
                  <tr key={s.name} data-session={s.name} class={s.name === session ? 'selected' : ''}>
                    <td>
                      <a href={`#/sessions/${enc(name)}/${enc(s.name)}`}>{s.name}</a>
                    </td>
                    <td>
                      <StateBadge state={s.state} />
                    </td>
                    <td>{s.exitStatus ?? ''}</td>
                    <td>
                      <code>{commandText(s.command)}</code>
                    </td>
                    <td>{ago(s.startedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {list && list.length > 0 && !selected && <p class="muted">{session ? `No session ${session} in ${name}.` : 'Pick a session to see its output.'}</p>}
          {selected && <Panel key={`${name}/${selected.name}`} vm={name} s={selected} running={running} changed={changed} />}
        </>
      )}
    </section>
  );
}
