/**
 * pyml-runtime: run pyml-exported models in the browser, on WebGPU or on the CPU (WebAssembly SIMD, or plain
 * JavaScript where the browser has no wasm SIMD).
 *
 *     import { loadModel } from "./model/runtime/index.js";
 *     const model = await loadModel("model/model.json");
 *     const { data, shape } = await model.predict([[0.1, 0.2, 0.3, 0.4]]);
 *
 * This file only re-exports; each module holds one concern (see shared/STYLE.md §4).
 * @module pyml-runtime
 */
// The modules the ones below import, named here too so that the browser fetches them in the same round trip
// instead of one level later.
import "./ops.js";
import "./util.js";
import "./weights.js";

export { createWorker, loadModel, loadModelInWorker, Model } from "./model.js";
export { FORMAT, FORMAT_VERSION, fetchBundle, fetchManifest, fetchWeights, readWeights, validateManifest, verifyWeights } from "./bundle.js";
export { computeDispatch, findAdapter } from "./webgpu.js";
