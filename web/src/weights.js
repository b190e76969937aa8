/**
 * How a bundle stores its weights (docs/internals.md §6; webexport/weights.py writes them): shard files
 * whose concatenation holds every entry, and per-entry storage tiers that `decodeEntry` widens to float32 (the
 * CPU paths, and on WebGPU the weights not marked `packed`; the kernels unpack the packed ones themselves).
 *
 * - `float32`, `int32`, `bool`: the values as numpy writes them (bool as 0/1 bytes);
 * - `float16`: IEEE half floats;
 * - `int8`: `numel` signed bytes, zero padding to 4 bytes, then `shape[-1]` float32 scales (one per
 *   channel of the last axis); value = q * scale[channel].
 * @module weights
 */
import { ARRAY_TYPES, numel } from "./util.js";

/**
 * The storages each weight dtype may use.
 * @example
 *   STORAGE_OF.float32; // ["float32", "float16", "int8"]
 */
export const STORAGE_OF = Object.freeze({ float32: ["float32", "float16", "int8"], int32: ["int32"], bool: ["bool"] });

const ITEM_SIZES = { float32: 4, int32: 4, bool: 1, float16: 2 };

/**
 * Bytes an entry of `shape` takes when stored as `storage`.
 * @example
 *   storageBytes([3, 5], "int8"); // 16 (15 bytes, padded to 4) + 20 (five float32 scales) = 36
 */
export function storageBytes(shape, storage) {
  const count = numel(shape);
  if (storage === "int8") return Math.ceil(count / 4) * 4 + 4 * (shape.length ? shape[shape.length - 1] : 0);
  return count * ITEM_SIZES[storage];
}

/**
 * The weights files of a manifest's weights table, `[{file, byte_length, sha256}]` in order, and the field
 * that names each in errors: format 2 lists `files`; format 1 has one `file`.
 * @example
 *   weightFiles(manifest.weights)[0].file; // "weights.bin"
 */
export function weightFiles(table) {
  if (Array.isArray(table.files)) return table.files.map((spec, k) => ({ ...spec, field: `weights.files[${k}]` }));
  return [{ file: table.file, byte_length: table.byte_length, sha256: table.sha256, field: "weights" }];
}

/**
 * Concatenate the shards' bytes into one ArrayBuffer (returned as is when there is one shard).
 * @param {ArrayBuffer[]} shards
 * @returns {ArrayBuffer}
 * @example
 *   joinShards([a, b]).byteLength === a.byteLength + b.byteLength; // true
 */
export function joinShards(shards) {
  if (shards.length === 1) return shards[0];
  const whole = new Uint8Array(shards.reduce((n, s) => n + s.byteLength, 0));
  let offset = 0;
  for (const shard of shards) {
    whole.set(new Uint8Array(shard), offset);
    offset += shard.byteLength;
  }
  return whole.buffer;
}

/**
 * The values of one weight entry in its dtype's storage array: a view of `buffer` for float32/int32/bool,
 * a new Float32Array for float16 and int8 storage.
 * @param {ArrayBuffer} buffer  the concatenated weights
 * @param {{shape: number[], dtype: string, storage?: string, offset: number}} entry
 * @returns {Float32Array|Int32Array|Uint8Array}
 * @example
 *   decodeEntry(weights, { shape: [64, 10], dtype: "float32", storage: "int8", offset: 0 }); // Float32Array(640)
 */
export function decodeEntry(buffer, entry) {
  const { shape, dtype, offset } = entry;
  const storage = entry.storage ?? dtype;
  const count = numel(shape);
  if (storage === "float16") return halfToFloat(new Uint16Array(buffer, offset, count));
  if (storage === "int8") {
    const q = new Int8Array(buffer, offset, count);
    const channels = shape[shape.length - 1];
    const scale = new Float32Array(buffer, offset + Math.ceil(count / 4) * 4, channels);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = q[i] * scale[i % channels];
    return out;
  }
  return new ARRAY_TYPES[dtype](buffer, offset, count);
}

// IEEE binary16 bits → float32 values (exact: every half is a float32).
function halfToFloat(bits) {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * fraction * 2 ** -24;
    else if (exponent === 0x1f) out[i] = fraction ? NaN : sign * Infinity;
    else out[i] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return out;
}
