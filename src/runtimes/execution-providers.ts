/**
 * Which ONNX Runtime execution providers a model version tries, in order. ORT itself does not fall
 * back when a provider cannot start (["cuda", "cpu"] fails whole if CUDA's library is missing), so
 * the runtime tries one provider at a time and records why each earlier one failed.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const PROVIDER_NAMES = ['cpu', 'cuda', 'webgpu'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** `--device`: the server default for models whose config names no providers. */
export const DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

export interface ProviderSpec {
  name: ProviderName;
  /** CUDA device; the only CUDA option onnxruntime-node 1.29's binding passes through. */
  deviceId?: number;
}

/** What a model's config.json may say: a name, or `{name, device_id}`. */
export type ProviderConfig = ProviderName | { name: ProviderName; device_id?: number };

/** Where `npm run setup:cuda` puts the CUDA provider: next to onnxruntime-node's libonnxruntime.so.1. */
export function cudaProviderPath(): string {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
}

export function cudaProviderInstalled(): boolean {
  return existsSync(cudaProviderPath());
}

/**
 * The providers to try: the model's own list, else the device's. `auto` tries CUDA only when its
 * provider library is installed, so a CPU machine does not log a failed CUDA attempt per model.
 * Every list that does not end in CPU gets no CPU fallback: the user asked for that.
 */
export function resolveProviders(model: readonly ProviderConfig[] | undefined, device: Device, cudaInstalled: boolean): ProviderSpec[] {
  if (model !== undefined && model.length > 0) {
    return model.map((p) => (typeof p === 'string' ? { name: p } : { name: p.name, deviceId: p.device_id }));
  }
  switch (device) {
    case 'cpu':
      return [{ name: 'cpu' }];
    case 'auto':
      return cudaInstalled ? [{ name: 'cuda' }, { name: 'cpu' }] : [{ name: 'cpu' }];
    default:
      return [{ name: device }, { name: 'cpu' }];
  }
}

/** The value onnxruntime-node expects in `executionProviders`. */
export function toOrtProvider(spec: ProviderSpec): string | { name: string; deviceId: number } {
  return spec.deviceId === undefined ? spec.name : { name: spec.name, deviceId: spec.deviceId };
}
