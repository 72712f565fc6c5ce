/** The create form: live stages from the operation's events, and cancel. */
import { useState } from 'preact/hooks';
import type { CreateVMRequest, ImageInfo, VMInfo } from '../../api/types.js';
import { api, enc, follow } from '../api.js';
import { ErrorBox, foldStages, Stages, useLoad, type StageRow } from './common.js';

export function CreateVM() {
  const [images] = useLoad(() => api.get<ImageInfo[]>('/images'), []);
  const [form, setForm] = useState({ name: '', image: '', vcpu: '', memory: '', disk: '', ports: '', nat: false, noStart: false });
  const [stages, setStages] = useState<StageRow[]>([]);
  const [opId, setOpId] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [created, setCreated] = useState<VMInfo | undefined>(undefined);
  const set = (k: keyof typeof form) => (e: Event) => {
    const t = e.currentTarget as HTMLInputElement;
    setForm({ ...form, [k]: t.type === 'checkbox' ? t.checked : t.value });
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setStages([]);
    setCreated(undefined);
    const req: CreateVMRequest = {};
    if (form.name) req.name = form.name;
    if (form.image) req.image = form.image;
    if (form.vcpu) req.vcpu = Number(form.vcpu);
    if (form.memory) req.memoryMiB = Number(form.memory);
    if (form.disk) req.diskSize = form.disk;
    if (form.ports.trim()) req.ports = form.ports.split(/[\s,]+/).filter(Boolean);
    if (form.nat) req.nat = true;
    if (form.noStart) req.noStart = true;
    try {
      const id = await api.start('POST', '/vms', req);
      setOpId(id);
      const vm = await follow<VMInfo>(id, (ev) => setStages((rows) => foldStages(rows, ev)));
      setCreated(vm);
    } catch (err) {
      setError(err);
    } finally {
      setOpId(undefined);
    }
  };
  const cancel = async () => {
    if (opId) await api.cancel(opId).catch((e: unknown) => setError(e));
  };
  return (
    <section>
      <h1>Create a VM</h1>
      <form onSubmit={(e) => void submit(e)} class="form" data-testid="create-form">
        <label>
          name <input name="name" value={form.name} onInput={set('name')} placeholder="generated when empty" pattern="[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?" />
        </label>
        <label>
          image
          <select name="image" value={form.image} onChange={set('image')}>
            <option value="">default</option>
            {(images ?? []).map((i) => (
              <option key={i.id} value={i.name}>
                {i.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          vCPU <input name="vcpu" type="number" min={1} max={64} value={form.vcpu} onInput={set('vcpu')} placeholder="default" />
        </label>
        <label>
          memory (MiB) <input name="memory" type="number" min={128} value={form.memory} onInput={set('memory')} placeholder="default" />
        </label>
        <label>
          work disk <input name="disk" value={form.disk} onInput={set('disk')} placeholder="e.g. 8G" />
        </label>
        <label>
          ports <input name="ports" value={form.ports} onInput={set('ports')} placeholder="e.g. 8080:80 3000" />
        </label>
        <label class="check">
          <input type="checkbox" name="nat" checked={form.nat} onChange={set('nat')} /> outbound access (NAT)
        </label>
        <label class="check">
          <input type="checkbox" name="noStart" checked={form.noStart} onChange={set('noStart')} /> create without starting
        </label>
        <div class="actions">
          <button type="submit" disabled={opId !== undefined}>
            Create
          </button>
          {opId && (
            <button type="button" class="danger" onClick={() => void cancel()}>
              Cancel
            </button>
          )}
        </div>
      </form>
      <Stages rows={stages} />
      <ErrorBox error={error} />
      {created && (
        <p class="ok" data-testid="created">
          Created <a href={`#/vms/${enc(created.name)}`}>{created.name}</a> ({created.state}).
        </p>
      )}
    </section>
  );
}
