/** What a staged kernel directory holds before it is published. */
export interface StagedKernel {
  kernelFile: string;
  initrdFile?: string;
  modulesDir?: string;
  distro: string;
  kernelVersion: string;
  source: string;
  extra?: Record<string, unknown>;
}
