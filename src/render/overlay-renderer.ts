// Draws a result over the photo with one WebGPU render pass on the model's own device: the photo,
// the projected FLAME mesh (shaded, translucent, depth-tested), the 68 landmarks and the pose axes.
// Geometry is read from the inference graph's output buffers (CompiledGraph.outputBuffer), so
// drawing needs no readback; the readback run() does anyway only feeds the numbers on the page.
import shader from '../../shaders/render_mesh.wgsl';
import type { CompiledGraph } from '../graph/compile.ts';
import type { HeadResult } from '../model/trans3dhead.ts';

export type PhotoSource = ImageBitmap | ImageData | HTMLImageElement | HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas | VideoFrame;
type RGBA = [number, number, number, number];

export interface OverlayOptions {
  mesh?: boolean;
  landmarks?: boolean;
  axes?: boolean;
  meshColor?: RGBA;
  landmarkColor?: RGBA;
}

/** One frame to draw: the graph that produced `result` (model.prepare(w, h, channels, batch) returns it) and the result. */
export interface OverlayFrame { graph: CompiledGraph; result: HeadResult; batch?: number }

const VIEW_BYTES = 96; // struct View in render_mesh.wgsl
const DEPTH_FORMAT: GPUTextureFormat = 'depth24plus';

function sourceSize(s: PhotoSource): [number, number] {
  const v = s as HTMLVideoElement & HTMLImageElement & VideoFrame;
  return [v.videoWidth || v.naturalWidth || v.displayWidth || v.width, v.videoHeight || v.naturalHeight || v.displayHeight || v.height];
}

export class OverlayRenderer {
  private context: GPUCanvasContext;
  private view = new ArrayBuffer(VIEW_BYTES);
  private viewF = new Float32Array(this.view);
  private viewU = new Uint32Array(this.view);
  /** One view uniform and photo bind group per head drawn (slot 0 also draws the photo); made on first need. */
  private slots: { uniforms: GPUBuffer; group: GPUBindGroup | null }[] = [];
  private photoView: GPUTextureView | null = null;
  private indices: GPUBuffer;
  private sampler: GPUSampler;
  private photo: GPUTexture | null = null;
  private photoGroup: GPUBindGroup | null = null;
  private depth: GPUTexture | null = null;
  private outputGroups = new WeakMap<CompiledGraph, GPUBindGroup>();
  /** Image pixels of the photo shown (the coordinate space of results). */
  imageWidth = 0;
  imageHeight = 0;

  private constructor(readonly device: GPUDevice, readonly canvas: HTMLCanvasElement | OffscreenCanvas, private readonly counts: { V: number; N: number; F: number },
    private readonly layouts: GPUBindGroupLayout[], private readonly pipelines: Record<'photo' | 'meshDepth' | 'meshColor' | 'points' | 'axes', GPURenderPipeline>,
    faces: Uint32Array, format: GPUTextureFormat) {
    const ctx = canvas.getContext('webgpu') as GPUCanvasContext | null;
    if (!ctx) throw new Error('this canvas has no WebGPU context (it may already have a 2D one)');
    this.context = ctx;
    ctx.configure({ device, format, alphaMode: 'opaque' });
    this.indices = device.createBuffer({ label: 'overlay.faces', size: Math.max(16, faces.byteLength), usage: GPUBufferUsage.INDEX | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(this.indices, 0, faces.buffer, faces.byteOffset, faces.byteLength);
    this.sampler = device.createSampler({ magFilter: 'linear', minFilter: 'linear' });
  }

  /**
   * `faces` are the FLAME triangles (model.flame.faces), `vertices` and `landmarks` the counts
   * (model.flame.V, model.config.num_landmarks). Pipelines compile here, once.
   */
  static async create(device: GPUDevice, canvas: HTMLCanvasElement | OffscreenCanvas, mesh: { faces: Uint32Array; vertices: number; landmarks: number }): Promise<OverlayRenderer> {
    const format = navigator.gpu.getPreferredCanvasFormat();
    const module = device.createShaderModule({ label: 'render_mesh', code: shader });
    const VF = GPUShaderStage.VERTEX | GPUShaderStage.FRAGMENT;
    const layouts = [
      device.createBindGroupLayout({ label: 'overlay.photo', entries: [
        { binding: 0, visibility: VF, buffer: { type: 'uniform' } },
        { binding: 1, visibility: GPUShaderStage.FRAGMENT, texture: { sampleType: 'float' } },
        { binding: 2, visibility: GPUShaderStage.FRAGMENT, sampler: { type: 'filtering' } },
      ] }),
      device.createBindGroupLayout({ label: 'overlay.outputs', entries: [0, 1, 2, 3].map((binding) => ({ binding, visibility: GPUShaderStage.VERTEX, buffer: { type: 'read-only-storage' as const } })) }),
    ];
    // The photo pass reads no outputs: its own layout lets it draw before any result exists.
    const photoLayout = device.createPipelineLayout({ bindGroupLayouts: [layouts[0]] });
    const layout = device.createPipelineLayout({ bindGroupLayouts: layouts });
    const blend: GPUBlendState = { color: { srcFactor: 'src-alpha', dstFactor: 'one-minus-src-alpha' }, alpha: { srcFactor: 'one', dstFactor: 'one-minus-src-alpha' } };
    const make = (label: string, vs: string, fs: string, opts: { blend?: boolean; writeColor?: boolean; depthWrite?: boolean; depthCompare?: GPUCompareFunction } = {}) =>
      device.createRenderPipelineAsync({
        label: `overlay.${label}`, layout: vs === 'vs_photo' ? photoLayout : layout,
        vertex: { module, entryPoint: vs },
        fragment: { module, entryPoint: fs, targets: [{ format, blend: opts.blend ? blend : undefined, writeMask: opts.writeColor === false ? 0 : GPUColorWrite.ALL }] },
        primitive: { topology: 'triangle-list', cullMode: 'none' },
        depthStencil: { format: DEPTH_FORMAT, depthWriteEnabled: opts.depthWrite ?? false, depthCompare: opts.depthCompare ?? 'always' },
      });
    const [photo, meshDepth, meshColor, points, axes] = await Promise.all([
      make('photo', 'vs_photo', 'fs_photo'),
      // Translucent mesh: depth first, then colour only where a fragment is the nearest one.
      make('mesh.depth', 'vs_mesh', 'fs_mesh', { writeColor: false, depthWrite: true, depthCompare: 'less' }),
      make('mesh.color', 'vs_mesh', 'fs_mesh', { blend: true, depthCompare: 'less-equal' }),
      make('points', 'vs_points', 'fs_points', { blend: true }),
      make('axes', 'vs_axes', 'fs_axes'),
    ]);
    return new OverlayRenderer(device, canvas, { V: mesh.vertices, N: mesh.landmarks, F: mesh.faces.length / 3 }, layouts,
      { photo, meshDepth, meshColor, points, axes }, mesh.faces, format);
  }

  /**
   * Shows a photo (or video frame). `image` is the size of the image the model ran on, when the
   * source shown is a downscaled copy of it. The canvas gets the photo's aspect, `displaySide`
   * pixels on its long side (within the device's texture limit).
   */
  setPhoto(source: PhotoSource, image?: { width: number; height: number }, displaySide = 768): void {
    const [w, h] = sourceSize(source);
    if (!w || !h) throw new Error('the photo has no size yet (not loaded?)');
    const maxSide = this.device.limits.maxTextureDimension2D;
    if (w > maxSide || h > maxSide) throw new Error(`a ${w}x${h} photo is larger than this GPU's textures (${maxSide}); show a downscaled copy and pass the full size as \`image\``);
    this.imageWidth = image?.width ?? w;
    this.imageHeight = image?.height ?? h;
    if (!this.photo || this.photo.width !== w || this.photo.height !== h) {
      this.photo?.destroy();
      this.photo = this.device.createTexture({
        label: 'overlay.photo', size: [w, h], format: 'rgba8unorm',
        usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.RENDER_ATTACHMENT,
      });
      this.photoView = this.photo.createView();
      for (const slot of this.slots) slot.group = null;
      this.photoGroup = this.slot(0).group;
    }
    this.device.queue.copyExternalImageToTexture({ source: source as GPUCopyExternalImageSource }, { texture: this.photo }, [w, h]);
    const long = Math.max(this.imageWidth, this.imageHeight);
    const s = Math.min(displaySide, maxSide) / long;
    this.canvas.width = Math.max(1, Math.round(this.imageWidth * s));
    this.canvas.height = Math.max(1, Math.round(this.imageHeight * s));
  }

  /** Canvas pixels per image pixel. */
  get scale(): number { return this.imageWidth ? this.canvas.width / this.imageWidth : 1; }

  private outputsGroup(graph: CompiledGraph): GPUBindGroup {
    let g = this.outputGroups.get(graph);
    if (!g) {
      g = this.device.createBindGroup({ label: 'overlay.outputs', layout: this.layouts[1], entries: ['projected', 'vertices', 'landmarks', 'rotation'].map((name, binding) => ({ binding, resource: { buffer: graph.outputBuffer(name) } })) });
      this.outputGroups.set(graph, g);
    }
    return g;
  }

  /** Slot i: its view uniform and its photo bind group (rebuilt when the photo texture changes). */
  private slot(i: number): { uniforms: GPUBuffer; group: GPUBindGroup } {
    while (this.slots.length <= i) {
      this.slots.push({ uniforms: this.device.createBuffer({ label: `overlay.view${this.slots.length}`, size: VIEW_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }), group: null });
    }
    const slot = this.slots[i];
    if (!slot.group && this.photoView) {
      slot.group = this.device.createBindGroup({ layout: this.layouts[0], entries: [
        { binding: 0, resource: { buffer: slot.uniforms } },
        { binding: 1, resource: this.photoView },
        { binding: 2, resource: this.sampler },
      ] });
    }
    return slot as { uniforms: GPUBuffer; group: GPUBindGroup };
  }

  /**
   * Draws the photo and, with frames, their results (several heads: one frame each, in one
   * pass). Call right after the run that made them (the next run overwrites the buffers).
   */
  draw(frame?: OverlayFrame | OverlayFrame[], opts: OverlayOptions = {}): void {
    if (!this.photoGroup) throw new Error('setPhoto first');
    const { V, N, F } = this.counts;
    const frames = frame === undefined ? [] : Array.isArray(frame) ? frame : [frame];
    frames.forEach((f, i) => {
      const r = f.result, b = f.batch ?? 0, geo = r.crop;
      const s = this.scale;
      this.viewF.set([this.imageWidth, this.imageHeight, geo.padLeft, geo.padTop, geo.box.x, geo.box.y, 1 / geo.k,
        (128 * Math.max(r.scale + 1, 1e-8)) / geo.k, Math.max(2.5, this.canvas.width / 220) / s, 0.3 * geo.box.width, Math.max(2, this.canvas.width / 260) / s]);
      this.viewU.set([N, b * V * 2, b * V * 3, b * N * 2, b * 9], 11);
      this.viewF.set(opts.meshColor ?? [0.45, 0.8, 1.0, 0.45], 16);
      this.viewF.set(opts.landmarkColor ?? [1.0, 0.25, 0.25, 1.0], 20);
      this.device.queue.writeBuffer(this.slot(i).uniforms, 0, this.view);
    });
    if (!this.depth || this.depth.width !== this.canvas.width || this.depth.height !== this.canvas.height) {
      this.depth?.destroy();
      this.depth = this.device.createTexture({ label: 'overlay.depth', size: [this.canvas.width, this.canvas.height], format: DEPTH_FORMAT, usage: GPUTextureUsage.RENDER_ATTACHMENT });
    }
    const encoder = this.device.createCommandEncoder({ label: 'overlay' });
    const pass = encoder.beginRenderPass({
      colorAttachments: [{ view: this.context.getCurrentTexture().createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }],
      depthStencilAttachment: { view: this.depth.createView(), depthClearValue: 1, depthLoadOp: 'clear', depthStoreOp: 'discard' },
    });
    pass.setBindGroup(0, this.slot(0).group);
    pass.setPipeline(this.pipelines.photo);
    pass.draw(3);
    for (const [i, f] of frames.entries()) {
      pass.setBindGroup(0, this.slot(i).group);
      pass.setBindGroup(1, this.outputsGroup(f.graph));
      if (opts.mesh !== false) {
        pass.setIndexBuffer(this.indices, 'uint32');
        pass.setPipeline(this.pipelines.meshDepth);
        pass.drawIndexed(F * 3);
        pass.setPipeline(this.pipelines.meshColor);
        pass.drawIndexed(F * 3);
      }
      if (opts.axes !== false) {
        pass.setPipeline(this.pipelines.axes);
        pass.draw(6, 3);
      }
      if (opts.landmarks !== false) {
        pass.setPipeline(this.pipelines.points);
        pass.draw(6, N);
      }
    }
    pass.end();
    this.device.queue.submit([encoder.finish()]);
  }

  dispose(): void {
    this.photo?.destroy();
    this.depth?.destroy();
    for (const slot of this.slots) slot.uniforms.destroy();
    this.indices.destroy();
    this.context.unconfigure();
  }
}
