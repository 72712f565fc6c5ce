/**
 * The request bodies banger sends to Firecracker's API, typed after the definitions of its API
 * description (firecracker-v1.16.1.yaml: BootSource, Drive, NetworkInterface, ...). Only the fields
 * banger uses are listed; the tests validate every body against the description itself.
 *
 * @module
 */

export interface MachineConfiguration {
  vcpu_count: number;
  mem_size_mib: number;
  smt?: boolean;
  track_dirty_pages?: boolean;
}

export interface BootSource {
  kernel_image_path: string;
  boot_args?: string;
  initrd_path?: string;
}

export interface Drive {
  drive_id: string;
  is_root_device: boolean;
  is_read_only?: boolean;
  path_on_host?: string;
  cache_type?: 'Unsafe' | 'Writeback';
  io_engine?: 'Sync' | 'Async';
}

export interface NetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac?: string;
}

export interface Vsock {
  guest_cid: number;
  uds_path: string;
}

export interface Logger {
  log_path?: string;
  level?: 'Error' | 'Warning' | 'Info' | 'Debug' | 'Trace' | 'Off';
  show_level?: boolean;
  show_log_origin?: boolean;
}

export interface Metrics {
  metrics_path: string;
}

export interface InstanceActionInfo {
  action_type: 'FlushMetrics' | 'InstanceStart' | 'SendCtrlAltDel';
}

export type SnapshotType = 'Full' | 'Diff';

export interface SnapshotCreateParams {
  mem_file_path: string;
  snapshot_path: string;
  snapshot_type?: SnapshotType;
}

export interface SnapshotLoadParams {
  snapshot_path: string;
  mem_backend?: { backend_type: 'File' | 'Uffd'; backend_path: string };
  track_dirty_pages?: boolean;
  resume_vm?: boolean;
  network_overrides?: { iface_id: string; host_dev_name: string }[];
  vsock_override?: { uds_path: string };
  clock_realtime?: boolean;
}

export interface VmState {
  state: 'Paused' | 'Resumed';
}

/** GET / */
export interface InstanceInfo {
  app_name: string;
  id: string;
  state: 'Not started' | 'Running' | 'Paused';
  vmm_version: string;
}

/** One request of a configuration sequence: method, path and body, in the order they are sent. */
export interface ApiCall {
  method: 'PUT' | 'PATCH';
  path: string;
  /** The definition of the API description the body follows (for the schema tests). */
  definition: string;
  body: object;
}
