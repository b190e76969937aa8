/**
 * The entry of the runtime's dedicated module Web Worker (see worker-client.js, its main-thread side). It loads
 * models with the ordinary `loadModel` and answers the client's requests, one message each:
 *
 *     {id, op: "load", url, options, progress}   -> {id, value: {model, info}}   (and {id, progress: event}s)
 *     {id, op: "run"|"predict"|"tokenize", model, args}   -> {id, value: outputs}   (output buffers transferred)
 *     {id, op: "dispose", model}                  -> {id, value: null} once the model's queued calls have ended
 *
 * A failure answers {id, error: {name, message}}: the caller's promise rejects with the same name and message.
 * Not imported by index.js: a page fetches it (and worker-client.js) only when it asks for a worker.
 * @module worker
 */
import { loadModel } from "./model.js";

const models = new Map(); // model id -> {model, last: a promise that settles when its latest call has}
let nextModel = 1;

const ops = {
  async load({ id, url, options, progress }) {
    const onProgress = progress ? (event) => postMessage({ id, progress: event }) : undefined;
    const model = await loadModel(url, { ...options, onProgress });
    const key = nextModel++;
    models.set(key, { model, last: Promise.resolve() });
    return { value: { model: key, info: model.info } };
  },
  run: (entry, args) => call(entry, entry.model.run(...args)),
  predict: (entry, args) => call(entry, entry.model.predict(...args)),
  tokenize: (entry, args) => call(entry, entry.model.tokenize(...args)),
  // Calls already sent finish first, as they do on the main thread, where dispose waits for the queue.
  async dispose(entry, _args, key) {
    models.delete(key);
    await entry.last;
    entry.model.dispose();
    return { value: null };
  },
};

async function call(entry, work) {
  entry.last = work.then(() => {}, () => {});
  const value = await work;
  return { value, transfer: outputBuffers(value) };
}

// Every output's buffer moves to the caller. The runtime's outputs are fresh arrays, each with its own buffer.
function outputBuffers(value) {
  const tensors = ArrayBuffer.isView(value?.data) ? [value] : Object.values(value);
  return tensors.map((t) => t.data.buffer);
}

self.onmessage = async ({ data: message }) => {
  const { id, op, model: key } = message;
  try {
    let result;
    if (op === "load") result = await ops.load(message);
    else {
      const entry = models.get(key);
      if (!entry) throw new Error(`this Model cannot run: it was disposed (no model ${key} in this worker)`);
      if (!Object.hasOwn(ops, op)) throw new Error(`the pyml worker has no operation ${JSON.stringify(op)}`);
      result = await ops[op](entry, message.args, key);
    }
    postMessage({ id, value: result.value }, result.transfer || []);
  } catch (err) {
    postMessage({ id, error: { name: err?.name || "Error", message: err?.message ?? String(err) } });
  }
};
