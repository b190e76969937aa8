/**
 * pyml-runtime: run pyml-exported models in the browser, on WebGPU or plain JavaScript.
 *
 *     import { loadModel } from "./model/runtime/index.js";
 *     const model = await loadModel("model/model.json");
 *     const { data, shape } = await model.predict([[0.1, 0.2, 0.3, 0.4]]);
 *
 * This file only re-exports; each module holds one concern (see shared/STYLE.md §4).
 * @module pyml-runtime
 */
export { loadModel, Model } from "./model.js";
export { FORMAT, FORMAT_VERSION, fetchBundle, readWeights, validateManifest, verifyWeights } from "./bundle.js";
export { computeDispatch, findAdapter } from "./webgpu.js";
