// What both entry points (src/index.ts for Node, src/browser.ts) export besides the platform's own.
export { Trans3DHead } from './model/trans3dhead.ts';
export type { CreateModelOptions, RunOptions, HeadResult, Poses } from './model/trans3dhead.ts';
export type { AdapterReport, GpuContext, RawImage, BytesSource } from './platform/types.ts';
export { describeAdapter, NoAdapterError } from './platform/types.ts';
export { WeightFileError } from './io/errors.ts';
export { InputError } from './model/image.ts';
export { DeviceLostError } from './graph/compile.ts';
export { DEFAULT_CONFIG, type Trans3DHeadConfig } from './model/config.ts';
export { readSafetensors, writeSafetensors } from './io/safetensors.ts';
export { readTorchCheckpoint } from './io/torch.ts';
export { readFlame, flameToSafetensors } from './io/flame.ts';
export { parseWeights, weightsToSafetensors, compactWeightsToSafetensors } from './model/weights.ts';
export { WEIGHT_FORMATS, type WeightFormat } from './kernels/weights.ts';
export { syntheticFlame } from './model/synthetic-flame.ts';
export { resultToJSON } from './model/result-json.ts';
