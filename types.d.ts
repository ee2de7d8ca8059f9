// WGSL files are imported as text (esbuild's text loader; scripts/loader.mjs in Node).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
