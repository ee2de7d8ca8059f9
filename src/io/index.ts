// The weight-file layer: pure TypeScript over Uint8Array (Node and browsers), no GPU.
export { WeightFileError } from './errors.ts';
export type { WeightFileErrorDetails } from './errors.ts';
export type { DType, HostTensor, StateDict } from './tensor.ts';
export { readSafetensors, writeSafetensors } from './safetensors.ts';
export type { SafetensorsFile, WritableTensor } from './safetensors.ts';
export { readTorchCheckpoint } from './torch.ts';
export type { TorchReadOptions } from './torch.ts';
export { FLAME_FORMAT, flameToSafetensors, readFlame } from './flame.ts';
export type { FlameArrays, FlameReadOptions, LandmarkSource } from './flame.ts';
export { parseNpy, readNpz, ndarrayToFloat32 } from './numpy.ts';
export { unpickle } from './pickle.ts';
export type { UnpickleOptions } from './pickle.ts';
export { readZip } from './zip.ts';
export type { ZipLimits } from './zip.ts';
