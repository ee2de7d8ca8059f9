// Node entry point. Browsers get src/browser.ts (package.json "exports").
import { bindApi } from './model/api.ts';
import { nodePlatform } from './platform/node.ts';

export const { createModel, runModel } = bindApi(nodePlatform);
export { getDevice, createDevice, releaseDevice } from './platform/node.ts';
export * from './exports.ts';
