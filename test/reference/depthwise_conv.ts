// CPU reference of the depthwise conv kernel: TFLite's reference DepthwiseConv (in tflite.ts,
// shared with the whole-graph interpreter), re-exported under the kernel's name.
export { depthwiseRef } from './tflite.ts';
