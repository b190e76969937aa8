/**
 * Images to model inputs: `fromImage` reads an `<img>`, `<canvas>`, OffscreenCanvas, ImageData, ImageBitmap,
 * `<video>` frame or VideoFrame pixel for pixel and computes what Keras's preprocessing layers compute on those
 * pixels, as pyml implements them, in their order:
 *
 * 1. channels: 1 (grayscale: `pyml.ops.image.rgb_to_grayscale`, Keras's weights 0.2989, 0.5870, 0.1140), 3 (RGB)
 *    or 4 (RGBA), values 0-255;
 * 2. `Resizing(height, width, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, fill_value)`: the CPU
 *    kernel of pyml's `resize` primitive (cpu/image.js: half-pixel centres, bilinear or nearest), after the same
 *    centred aspect-ratio crop or padding;
 * 3. `Rescaling(scale, offset)`: `x * scale + offset`;
 * 4. `Normalization(mean, variance=std ** 2)`: `(x - mean) / std`.
 *
 * Each step rounds to float32 where NumPy does, so the tensor equals Python's to float32 rounding. The browser
 * never resamples: the source is drawn at its natural size and read back with getImageData. Loaded on demand
 * (index.js imports it dynamically), so a page that never calls `fromImage` never downloads it.
 * @module image-input
 */
import { kernels } from "./cpu/image.js";
import { formatShape } from "./util.js";

const GRAY_WEIGHTS = [0.2989, 0.587, 0.114]; // keras.ops.image.rgb_to_grayscale's (tf.image's) luma weights
const OPTIONS = ["size", "channels", "interpolation", "cropToAspectRatio", "padToAspectRatio", "fillValue", "scale",
  "offset", "mean", "std", "model", "input"];
const SOURCES = "an HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, ImageData, ImageBitmap, HTMLVideoElement " +
  "or VideoFrame";

/**
 * The pixels of an image source as the float32 tensor `[1, height, width, channels]` a model takes, preprocessed
 * as Keras's `Resizing`, `Rescaling` and `Normalization` layers do (see the module comment).
 * @param {HTMLImageElement|HTMLCanvasElement|OffscreenCanvas|ImageData|ImageBitmap|HTMLVideoElement|VideoFrame} source
 * @param {object|Model} [options]  or a loaded model, whose first input gives `size` and `channels`
 * @param {number|number[]} [options.size]  `[height, width]` (or one number for both); default: the source's size
 * @param {1|3|4} [options.channels]  grayscale, RGB (default) or RGBA
 * @param {"bilinear"|"nearest"} [options.interpolation]  default "bilinear"
 * @param {boolean} [options.cropToAspectRatio]  first crop the largest centred window of `size`'s aspect ratio
 * @param {boolean} [options.padToAspectRatio]  or first pad to `size`'s aspect ratio, centred, with `fillValue`
 * @param {number} [options.fillValue]  the padding's value (before scale and offset, as Resizing); default 0
 * @param {number|number[]} [options.scale]  multiply by this (one number, or one per channel); default 1
 * @param {number|number[]} [options.offset]  then add this; default 0
 * @param {number|number[]} [options.mean]  then subtract this; default 0
 * @param {number|number[]} [options.std]  then divide by this (positive); default 1
 * @param {Model} [options.model]  take `size` and `channels` (where not given) from this model's input
 * @param {number|string} [options.input]  which input of `model`, by position or name; default 0
 * @returns {Promise<{data: Float32Array, shape: number[], dtype: "float32"}>}
 * @example
 *   const x = await fromImage(document.querySelector("img"), { size: [224, 224], scale: 1 / 255 });
 *   const y = await model.predict(x);
 *   const z = await model.predict(await fromImage(video, model));   // size and channels from the model
 */
export async function fromImage(source, options = {}) {
  const { size, channels, interpolation, cropToAspectRatio, padToAspectRatio, fillValue, scale, offset, mean, std } =
    resolveOptions(options);
  const { pixels, width, height } = await readPixels(source);
  const [outHeight, outWidth] = size || [height, width];
  // crop: [top, left, height, width] of the source window read; pad: where it sits, and the size then resized.
  const crop = cropToAspectRatio ? aspectCrop(height, width, outHeight, outWidth) : [0, 0, height, width];
  const pad = padToAspectRatio ? aspectPad(height, width, outHeight, outWidth) : [0, 0, crop[2], crop[3]];
  let x = selectChannels(pixels, width, crop, pad, channels, fillValue);
  const [, , inHeight, inWidth] = pad;
  if (inHeight !== outHeight || inWidth !== outWidth) {
    x = kernels.resize([{ data: x, shape: [1, inHeight, inWidth, channels] }],
      { size: [outHeight, outWidth], interpolation }, { dtype: "float32" });
  }
  const f = Math.fround;
  for (let i = 0; i < x.length; i++) {
    const k = i % channels;
    x[i] = f(f(f(x[i] * scale[k]) + offset[k]) - mean[k]) / std[k]; // stored as float32, as NumPy rounds
  }
  return { data: x, shape: [1, outHeight, outWidth, channels], dtype: "float32" };
}

/** The options checked, with `size`/`channels` from the model where not given, per-channel values as arrays. */
function resolveOptions(options) {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`fromImage: the second argument must be an options object or a loaded model. Received: ${options}`);
  }
  if (isModel(options)) options = { model: options };
  const unknown = Object.keys(options).filter((key) => !OPTIONS.includes(key));
  if (unknown.length) {
    throw new TypeError(`fromImage: unknown option${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; the options ` +
      `are ${OPTIONS.join(", ")}`);
  }
  let { size, channels } = options;
  if (options.model !== undefined) {
    const fromModel = modelInput(options);
    size ??= fromModel.size;
    channels ??= fromModel.channels;
  }
  if (typeof size === "number") size = [size, size];
  if (size !== undefined && !(Array.isArray(size) && size.length === 2 && size.every((d) => Number.isInteger(d) && d > 0))) {
    throw new RangeError(`fromImage: options.size must be [height, width], two positive integers (or one for both). ` +
      `Received: size=${JSON.stringify(size)}`);
  }
  channels ??= 3;
  if (![1, 3, 4].includes(channels)) {
    throw new RangeError(`fromImage: options.channels must be 1 (grayscale), 3 (RGB) or 4 (RGBA). Received: channels=${channels}`);
  }
  const interpolation = options.interpolation ?? "bilinear";
  if (interpolation !== "bilinear" && interpolation !== "nearest") {
    throw new RangeError(`fromImage: options.interpolation must be "bilinear" or "nearest". Received: interpolation=${interpolation}`);
  }
  for (const name of ["cropToAspectRatio", "padToAspectRatio"]) {
    if (options[name] && size === undefined) {
      throw new RangeError(`fromImage: options.${name} needs options.size (the aspect ratio to ${name.slice(0, 3)} to)`);
    }
  }
  if (options.cropToAspectRatio && options.padToAspectRatio) {
    throw new RangeError("fromImage: only one of options.cropToAspectRatio and options.padToAspectRatio can be true");
  }
  const fillValue = options.fillValue ?? 0;
  if (!Number.isFinite(fillValue)) {
    throw new RangeError(`fromImage: options.fillValue must be a finite number. Received: fillValue=${fillValue}`);
  }
  const perChannel = (name, fallback) => perChannelValues(name, options[name] ?? fallback, channels);
  const std = perChannel("std", 1);
  if (!std.every((s) => s > 0)) throw new RangeError(`fromImage: options.std must be positive. Received: std=${options.std}`);
  return { size, channels, interpolation, cropToAspectRatio: Boolean(options.cropToAspectRatio),
    padToAspectRatio: Boolean(options.padToAspectRatio), fillValue: Math.fround(fillValue),
    scale: perChannel("scale", 1), offset: perChannel("offset", 0), mean: perChannel("mean", 0), std };
}

function isModel(value) {
  return Boolean(value.info && Array.isArray(value.info.inputs));
}

/** `{size, channels}` of the model's image input `[batch, height, width, channels]`. */
function modelInput({ model, input = 0 }) {
  if (!model || !isModel(model)) throw new TypeError("fromImage: options.model must be a loaded model (from loadModel)");
  const { inputs } = model.info;
  const spec = typeof input === "string" ? inputs.find((v) => v.name === input) : inputs[input];
  if (!spec) {
    throw new RangeError(`fromImage: the model has no input ${JSON.stringify(input)}; its inputs are ` +
      `${inputs.map((v) => v.name).join(", ")}`);
  }
  const [, height, width, channels] = spec.shape;
  if (spec.shape.length !== 4 || spec.dtype !== "float32" || ![1, 3, 4].includes(channels)) {
    throw new RangeError(`fromImage: the model's input ${spec.name} (${spec.dtype} ${formatShape(spec.shape)}) is not ` +
      "a float32 image [batch, height, width, 1|3|4]; give options.size and options.channels instead of options.model");
  }
  return { size: [height, width], channels };
}

/** A number (every channel) or one finite number per channel, as float32 values. */
function perChannelValues(name, value, channels) {
  const values = typeof value === "number" ? new Array(channels).fill(value) : Array.isArray(value) ? value : null;
  if (!values || values.length !== channels || !values.every(Number.isFinite)) {
    throw new RangeError(`fromImage: options.${name} must be a finite number or ${channels} of them (one per channel). ` +
      `Received: ${name}=${JSON.stringify(value)}`);
  }
  return values.map(Math.fround);
}

/** pyml.ops.image.aspect_crop: `[top, left, height, width]`, the centred window of the target's aspect ratio. */
function aspectCrop(height, width, targetHeight, targetWidth) {
  const cropHeight = Math.max(Math.min(height, Math.trunc((width * targetHeight) / targetWidth)), 1);
  const cropWidth = Math.max(Math.min(width, Math.trunc((height * targetWidth) / targetHeight)), 1);
  return [(height - cropHeight) >> 1, (width - cropWidth) >> 1, cropHeight, cropWidth];
}

/** pyml.ops.image.aspect_pad: `[top, left, height, width]`: where the image sits in its padded canvas, the
 * canvas's size. Keras pads one axis only, the same amount on both sides. */
function aspectPad(height, width, targetHeight, targetWidth) {
  const top = (Math.max(height, Math.trunc((width * targetHeight) / targetWidth)) - height) >> 1;
  const left = (Math.max(width, Math.trunc((height * targetWidth) / targetHeight)) - width) >> 1;
  return top ? [top, 0, height + 2 * top, width] : [0, left, height, width + 2 * left];
}

/**
 * The source window `crop` ([top, left, height, width] of the RGBA bytes) as float32 values 0-255, `channels` per
 * pixel (1: rgb_to_grayscale's weighted sum), at [top, left] of a [height, width] image `pad` filled with `fill`.
 */
function selectChannels(pixels, width, crop, pad, channels, fill) {
  const [top, left, height, cropWidth] = crop, [padTop, padLeft, padHeight, padWidth] = pad;
  const x = new Float32Array(padHeight * padWidth * channels);
  if (padHeight !== height || padWidth !== cropWidth) x.fill(fill);
  const f = Math.fround, [wr, wg, wb] = GRAY_WEIGHTS.map(f);
  for (let i = 0; i < height; i++) {
    let o = ((padTop + i) * padWidth + padLeft) * channels;
    for (let p = ((top + i) * width + left) * 4, end = p + cropWidth * 4; p < end; p += 4) {
      if (channels === 1) x[o++] = f(f(pixels[p] * wr) + f(pixels[p + 1] * wg)) + f(pixels[p + 2] * wb);
      else for (let k = 0; k < channels; k++) x[o++] = pixels[p + k];
    }
  }
  return x;
}

/** `{pixels: RGBA bytes, width, height}` of the source at its natural size. */
async function readPixels(source) {
  if (isImageData(source)) {
    const { data, width, height } = source;
    checkSize(width, height, "ImageData");
    if (data.length !== width * height * 4) {
      throw new RangeError(`fromImage: the ImageData holds ${data.length} bytes, not width * height * 4 = ${width * height * 4}`);
    }
    return { pixels: data, width, height };
  }
  const [width, height, what] = await naturalSize(source);
  checkSize(width, height, what);
  const canvas = typeof OffscreenCanvas === "function" ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement("canvas"), { width, height });
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, 0, 0); // at the natural size: one source pixel per canvas pixel, nothing resampled
  try {
    return { pixels: context.getImageData(0, 0, width, height).data, width, height };
  } catch (err) {
    if (err && err.name === "SecurityError") {
      throw new Error(`fromImage: the ${what} is cross-origin, so the page may not read its pixels: serve it with ` +
        `Access-Control-Allow-Origin and set crossOrigin = "anonymous" on the element before its src`);
    }
    throw err;
  }
}

function isA(value, name) {
  return typeof globalThis[name] === "function" && value instanceof globalThis[name];
}

/** ImageData, or an object shaped like it ({data: Uint8ClampedArray, width, height}, e.g. from a worker). */
function isImageData(source) {
  return isA(source, "ImageData") || (source !== null && typeof source === "object"
    && source.data instanceof Uint8ClampedArray && Number.isInteger(source.width) && Number.isInteger(source.height));
}

/** `[width, height, what]`: the size drawImage draws the source at, once there is a frame to draw. */
async function naturalSize(source) {
  if (isA(source, "HTMLImageElement")) {
    if (!(source.complete && source.naturalWidth)) {
      await source.decode().catch((err) => {
        throw new Error(`fromImage: the <img> ${JSON.stringify(source.currentSrc || source.src)} could not be loaded ` +
          `and decoded (${err && err.message})`);
      });
    }
    return [source.naturalWidth, source.naturalHeight, "<img>"];
  }
  if (isA(source, "HTMLVideoElement")) {
    if (source.readyState < 2) { // HAVE_CURRENT_DATA: no frame decoded yet
      throw new Error(`fromImage: the <video> has no frame yet (readyState ${source.readyState}); call fromImage ` +
        `after its "loadeddata" event`);
    }
    return [source.videoWidth, source.videoHeight, "<video>"];
  }
  if (isA(source, "VideoFrame")) return [source.displayWidth, source.displayHeight, "VideoFrame"];
  for (const name of ["HTMLCanvasElement", "OffscreenCanvas", "ImageBitmap"]) {
    if (isA(source, name)) return [source.width, source.height, name];
  }
  const kind = source === null ? "null" : typeof source !== "object" ? typeof source : source.constructor?.name || "object";
  throw new TypeError(`fromImage: unsupported source (${kind}); pass ${SOURCES}`);
}

function checkSize(width, height, what) {
  if (!(width > 0 && height > 0)) {
    throw new RangeError(`fromImage: the ${what} is empty (${width}x${height} pixels); a closed ImageBitmap or ` +
      "VideoFrame, and an image without pixels, have no size");
  }
}
