/** The banger web UI: a hash-routed single-page app over the daemon API and its live events. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { connectLive, useLive } from './live.js';
import { Dashboard } from './pages/dashboard.js';
import { VMList } from './pages/vm-list.js';
import { VMDetail } from './pages/vm-detail.js';
import { CreateVM } from './pages/create.js';
import { Images } from './pages/images.js';
import { TerminalPage } from './pages/terminal-page.js';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

type SessionsModule = typeof import('./pages/sessions.js');
let sessionsModule: SessionsModule | undefined;

/** The sessions page is a chunk of its own, loaded the first time it is shown. */
function SessionsPage(props: { vm: string | undefined; session: string | undefined }) {
  const [mod, setMod] = useState(sessionsModule);
  useEffect(() => {
    if (!mod) void import('./pages/sessions.js').then((m) => setMod((sessionsModule = m)));
  }, []);
  return mod ? <mod.Sessions {...props} /> : <p class="muted">loading…</p>;
}

function Page({ hash }: { hash: string }) {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  switch (parts[0]) {
    case '':
      return <Dashboard />;
    case 'vms':
      if (parts[1] === undefined) return <VMList />;
      if (parts[2] === 'terminal') return <TerminalPage name={parts[1]} />;
      return <VMDetail name={parts[1]} />;
    case 'create':
      return <CreateVM />;
    case 'images':
      return <Images />;
    case 'sessions':
      return <SessionsPage vm={parts[1] || undefined} session={parts[2] || undefined} />;
    default:
      return <p>No page {hash}. <a href="#/">Dashboard</a></p>;
  }
}

function App() {
  const hash = useHash();
  const live = useLive();
  const tab = hash.replace(/^#\/?/, '').split('/')[0] ?? '';
  const link = (to: string, label: string) => (
    <a href={`#/${to}`} class={tab === to ? 'active' : ''}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <strong class="brand">banger</strong>
        <nav>
          {link('', 'Dashboard')}
          {link('vms', 'VMs')}
          {link('create', 'Create')}
          {link('images', 'Images & kernels')}
          {link('sessions', 'Sessions')}
        </nav>
        <span class={`live ${live.connected ? 'on' : 'off'}`} title="live updates from the daemon" data-testid="live">
          {live.connected ? 'live' : 'offline'}
        </span>
      </header>
      <main>
        <Page hash={hash} />
      </main>
    </>
  );
}

connectLive();
render(<App />, document.getElementById('app')!);
