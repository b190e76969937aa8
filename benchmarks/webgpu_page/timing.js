/**
 * Page side of benchmarks/webgpu_inference.py: load one pyml bundle on WebGPU, time load, the first predict
 * and warm predicts per batch size.
 *
 *     const r = await timing.run("mlp", [1, 32], { warmup: 2, samples: 7, budgetMs: 4000 });
 *     // {loadMs, firstMs, firstBatch, warm: [{batch, medianMs, times}], adapter}
 *
 * Each bundle folder holds its own runtime/ (exported with include_runtime=True). Inputs are deterministic
 * pseudo-random values: the timing does not depend on them, and parity is the test suites' job.
 */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function input(spec, batch) {
  const shape = spec.shape.map((d) => (d === null ? batch : d));
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return { data, shape };
}

window.timing = {
  /** Where load time goes: fetch + verify, adapter, device, pipelines + weight upload (ms each). */
  async stages(bundle) {
    try {
      const t = [performance.now()];
      const { fetchBundle, readWeights } = await import(`./${bundle}/runtime/bundle.js`);
      const gpu = await import(`./${bundle}/runtime/webgpu.js`);
      t.push(performance.now());
      const { manifest, weights } = await fetchBundle(`${bundle}/model.json`);
      t.push(performance.now());
      const adapter = await gpu.findAdapter();
      t.push(performance.now());
      const { device } = await gpu.requestGpuDevice(manifest, adapter);
      t.push(performance.now());
      gpu.uploadWeights(device, readWeights(manifest, weights));
      await device.queue.onSubmittedWorkDone();
      t.push(performance.now());
      await gpu.createPipelines(device, manifest);
      t.push(performance.now());
      device.destroy();
      const names = ["import", "fetch+verify", "adapter", "device", "weights", "pipelines"];
      return Object.fromEntries(names.map((n, i) => [n, t[i + 1] - t[i]]));
    } catch (err) {
      return { error: err && err.message ? err.message : String(err) };
    }
  },

  async run(bundle, batches, { warmup = 2, samples = 7, budgetMs = 5000 } = {}) {
    try {
      const t0 = performance.now();
      const { loadModel } = await import(`./${bundle}/runtime/index.js`);
      const model = await loadModel(`${bundle}/model.json`, { backend: "webgpu" });
      const loadMs = performance.now() - t0;
      const [spec] = model.info.inputs;
      const first = input(spec, batches[0]);
      const t1 = performance.now();
      await model.predict(first.data, first.shape);
      const firstMs = performance.now() - t1;
      const warm = [];
      for (const batch of batches) {
        const x = input(spec, batch);
        for (let i = 0; i < warmup; i++) await model.predict(x.data, x.shape);
        const times = [];
        const start = performance.now();
        while (times.length < samples && (times.length < 3 || performance.now() - start < budgetMs)) {
          const t = performance.now();
          await model.predict(x.data, x.shape);
          times.push(performance.now() - t);
        }
        warm.push({ batch, medianMs: median(times), times });
      }
      model.dispose();
      return { loadMs, firstMs, firstBatch: batches[0], warm, adapter: model.info.adapter };
    } catch (err) {
      return { error: err && err.message ? err.message : String(err) };
    }
  },
};
