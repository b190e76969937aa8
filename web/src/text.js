/**
 * Text to ids in the page, exactly as the model's first layer (`TextVectorization` or `StringLookup`) did in
 * Python: the rules of `pyml/layers/text_ops.py`, to the code point, from the bundle's `inputs[i].text`
 * (docs/internals.md §6). Only a bundle with a text input loads this module (`Model.tokenize`, or
 * `Model.predict` on strings); `validateText` checks the field before anything runs, as `webexport` does.
 *
 * The rules: lone surrogates become U+FFFD; "lower" maps A–Z only (Keras's ASCII `tf.strings.lower`);
 * "strip_punctuation" deletes the 32 ASCII punctuation characters; "whitespace" splits at runs of tab, LF,
 * VT, FF, CR and space; "character" gives code points; n-grams join tokens with one space, width by width.
 * @module text
 */

const STANDARDIZE = ["lower_and_strip_punctuation", "lower", "strip_punctuation"];
const SPLIT = ["whitespace", "character"];
const MODES = ["int", "multi_hot", "count", "tf_idf"];
const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_\x60{|}~]/g; // \x60: the backtick
const UPPER = /[A-Z]/g;
const WHITESPACE = /[\t\n\v\f\r ]+/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const lowerAscii = (c) => String.fromCharCode(c.charCodeAt(0) + 32);

/**
 * One string's tokens under `text` (standardize, split, n-grams).
 * @param {string} s
 * @param {{standardize: string|null, split: string|null, ngrams: number[]|null}} text  an `inputs[i].text`
 * @returns {string[]}
 * @example
 *   tokens("Hello, WORLD!", { standardize: "lower_and_strip_punctuation", split: "whitespace", ngrams: null });
 *   // ["hello", "world"]
 */
export function tokens(s, text) {
  return ngrams(split(standardize(s, text.standardize), text.split), text.ngrams);
}

function standardize(s, mode) {
  s = s.replace(LONE_SURROGATE, "\uFFFD");
  if (mode === "lower" || mode === "lower_and_strip_punctuation") s = s.replace(UPPER, lowerAscii);
  if (mode === "strip_punctuation" || mode === "lower_and_strip_punctuation") s = s.replace(PUNCTUATION, "");
  return s;
}

function split(s, mode) {
  if (mode === "whitespace") return s.split(WHITESPACE).filter((t) => t !== "");
  return mode === "character" ? Array.from(s) : [s];
}

function ngrams(row, widths) {
  if (!widths) return row;
  const out = [];
  for (const w of widths) for (let i = 0; i + w <= row.length; i++) out.push(row.slice(i, i + w).join(" "));
  return out;
}

const LOOKUPS = new WeakMap(); // text -> Map(token -> id), built at the first use

function lookup(text) {
  let table = LOOKUPS.get(text);
  if (!table) {
    table = new Map();
    text.vocabulary.forEach((t, i) => { if (i >= text.token_start) table.set(t, i); });
    LOOKUPS.set(text, table);
  }
  return table;
}

// The strings of one input as a flat list and its shape ([batch] or [batch, n]), checked against input_shape.
function flatStrings(value, text, what) {
  const raw = text.input_shape;
  let rows = typeof value === "string" ? [value] : value;
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new Error(`${what}: expected strings (a string, an array of strings, or arrays of them). Received: ${describe(value)}`);
  }
  const nested = Array.isArray(rows[0]);
  const flat = nested ? rows.flat() : rows;
  const bad = flat.find((s) => typeof s !== "string");
  if (bad !== undefined || (nested && !rows.every((r) => Array.isArray(r) && r.length === rows[0].length))) {
    throw new Error(`${what}: expected strings (a string, an array of strings, or arrays of them). Received: ` +
      (bad !== undefined ? `an array holding ${describe(bad)}` : "rows of different lengths"));
  }
  const shape = nested ? [rows.length, rows[0].length] : raw.length === 2 && raw[1] === 1 ? [rows.length, 1] : [rows.length];
  if (shape.length !== raw.length || shape[1] !== raw[1] || (raw[0] !== null && raw[0] !== shape[0])) {
    throw new Error(`${what}: expected strings of shape [${raw.map((d) => d ?? "batch")}]. Received: shape [${shape}]`);
  }
  return { flat, shape };
}

const describe = (v) => (v === null ? "null" : Array.isArray(v) ? `an array of ${v.length}` : `${typeof v} ${String(v).slice(0, 40)}`);

/**
 * Strings to the ids (or vectors) input `index` of the graph takes, as the Python layer computes them.
 * @param {Array<{name: string, text?: object}>} inputs  the manifest's `inputs`
 * @param {number} index  which input
 * @param {string|string[]|string[][]} strings  shaped as the model's text input: [batch] or [batch, n]
 * @returns {{data: Int32Array|Float32Array, shape: number[], dtype: "int32"|"float32"}}
 * @example
 *   const { data, shape } = tokenize(manifest.inputs, 0, ["the cat sat", "a dog"]);   // shape [2, 20]
 */
export function tokenize(inputs, index, strings) {
  const spec = inputs[index];
  const what = `input "${spec?.name ?? index}"`;
  if (!spec || !spec.text) {
    throw new Error(`${what}: this input takes numbers, not text (no TextVectorization or StringLookup was exported for it)`);
  }
  const text = spec.text;
  const { flat, shape } = flatStrings(strings, text, what);
  const byRow = text.split == null && shape.length === 2;
  // Splitting: one row of tokens per string. Without: each [batch, n] row's n strings are one row of tokens.
  const rows = byRow ? [] : flat.map((s) => tokens(s, text));
  for (let b = 0; byRow && b < shape[0]; b++) {
    const row = flat.slice(b * shape[1], (b + 1) * shape[1]).map((s) => standardize(s, text.standardize));
    rows.push(ngrams(row, text.ngrams));
  }
  const table = lookup(text);
  const isInt = text.output_mode === "int";
  const ids = rows.map((row) => row.flatMap((t) => {
    if (text.mask_token != null && t === text.mask_token) return isInt ? [0] : [];
    const id = table.get(t) ?? text.oov_index;
    if (id == null) throw new Error(`${what}: "${t}" is not in the vocabulary, and this lookup has no OOV index (num_oov_indices=0)`);
    return [id];
  }));
  const batch = shape[0];
  if (!isInt) {
    const depth = text.depth, data = new Float32Array(batch * depth);
    ids.forEach((row, b) => row.forEach((id) => { data[b * depth + id] += 1; }));
    if (text.output_mode === "multi_hot") data.forEach((v, i) => { data[i] = Math.min(v, 1); });
    if (text.output_mode === "tf_idf") data.forEach((v, i) => { data[i] = Math.fround(v * text.idf_weights[i % depth]); });
    return { data, shape: [batch, depth], dtype: "float32" };
  }
  if (text.split == null && text.output_sequence_length == null) {
    return { data: Int32Array.from(ids.flat()), shape: byRow ? shape : [batch], dtype: "int32" };
  }
  const length = text.output_sequence_length;
  const data = new Int32Array(batch * length);
  ids.forEach((row, b) => data.set(row.slice(0, length), b * length));
  return { data, shape: [batch, length], dtype: "int32" };
}

/**
 * `inputs` with every value given as strings, for an input that has `text`, replaced by its ids.
 * @param {Array<{text?: object}>} specs  the manifest's `inputs`
 * @param {Array} inputs  as `Model.run` takes them
 * @returns {Array}
 * @example
 *   const values = textInputs(manifest.inputs, [["the cat sat"]]);   // [{data: Int32Array, shape: [1, 20], ...}]
 */
export function textInputs(specs, inputs) {
  return inputs.map((value, i) => {
    let leaf = value;
    while (Array.isArray(leaf) && leaf.length) leaf = leaf[0];
    return specs[i].text && typeof leaf === "string" ? tokenize(specs, i, value) : value;
  });
}

/**
 * Check every `inputs[i].text` of a manifest whose signature `validateManifest` checked (same rules and field
 * names as `webexport.text.check_text`).
 * @param {object} manifest
 * @param {string} [file]  named in the messages
 * @example
 *   validateText(manifest);   // throws Error("model.json: inputs[0].text.vocabulary must be a list of strings")
 */
export function validateText(manifest, file = "model.json") {
  manifest.inputs.forEach((signature, i) => {
    if (signature.text !== undefined) checkOne(signature.text, signature, `inputs[${i}].text`, (field, message) => {
      throw new Error(`${file}: ${field} ${message}`);
    });
  });
}

const isInt = (v, low = 0) => Number.isInteger(v) && v >= low;
const show = (v) => JSON.stringify(v) ?? String(v);

function checkOne(given, signature, where, fail) {
  if (given === null || typeof given !== "object" || Array.isArray(given)) fail(where, `must be an object. Received: ${show(given)}`);
  const text = new Proxy(given, { get: (t, key) => t[key] ?? null }); // a missing field reads as null, as in Python
  const field = (key) => `${where}.${key}`;
  for (const [key, allowed] of [["standardize", STANDARDIZE], ["split", SPLIT], ["output_mode", MODES]]) {
    const value = text[key];
    if (!(allowed.includes(value) || (value === null && key !== "output_mode"))) {
      fail(field(key), `must be one of ${allowed.join(", ")}${key === "output_mode" ? "" : " or null"}. Received: ${show(value)}`);
    }
  }
  const { ngrams: widths, vocabulary, token_start: start, mask_token: mask, oov_index: oov, output_mode: mode } = text;
  if (widths !== null && !(Array.isArray(widths) && widths.length && widths.every((w) => isInt(w, 1)))) {
    fail(field("ngrams"), `must be null or a non-empty list of positive integers. Received: ${show(widths)}`);
  }
  if (!Array.isArray(vocabulary) || !vocabulary.every((t) => typeof t === "string")) {
    fail(field("vocabulary"), "must be a list of strings");
  }
  if (!isInt(start) || start > vocabulary.length) {
    fail(field("token_start"), `must be an integer in [0, ${vocabulary.length}]. Received: ${show(start)}`);
  }
  if (new Set(vocabulary.slice(start)).size !== vocabulary.length - start) fail(field("vocabulary"), "repeats a token");
  if (mask !== null && (typeof mask !== "string" || (mode === "int" && (start < 1 || vocabulary[0] !== mask)))) {
    fail(field("mask_token"), `must be null or a string (in int mode, vocabulary[0]). Received: ${show(mask)}`);
  }
  if (oov !== null && !(isInt(oov) && oov < start)) {
    fail(field("oov_index"), `must be null or an integer below token_start (${start}). Received: ${show(oov)}`);
  }
  const length = text.output_sequence_length;
  if (length !== null && (mode !== "int" || !isInt(length, 1))) {
    fail(field("output_sequence_length"), `must be null, or a positive integer in int mode. Received: ${show(length)}`);
  }
  const raw = text.input_shape;
  if (!(Array.isArray(raw) && (raw.length === 1 || raw.length === 2) && (raw[0] === null || isInt(raw[0], 1)) &&
      raw.slice(1).every((d) => isInt(d, 1)) && (text.split === null || raw.length === 1 || raw[1] === 1))) {
    fail(field("input_shape"), `must be [batch] or [batch, n] (n = 1 when splitting). Received: ${show(raw)}`);
  }
  const { depth, idf_weights: idf } = text;
  let expected, dtype = "int32";
  if (mode === "int") {
    expected = text.split === null && length === null ? raw : [raw[0], length];
    if (depth !== null || idf !== null) fail(field(depth !== null ? "depth" : "idf_weights"), "must be null in int mode");
  } else {
    if (!isInt(depth, Math.max(vocabulary.length, 1))) {
      fail(field("depth"), `must be an integer >= the vocabulary size (${vocabulary.length}). Received: ${show(depth)}`);
    }
    const finite = Array.isArray(idf) && idf.length === depth && idf.every(Number.isFinite);
    if ((idf === null) !== (mode !== "tf_idf") || (idf !== null && !finite)) {
      fail(field("idf_weights"), `must be ${depth} finite numbers in tf_idf mode, else null`);
    }
    [expected, dtype] = [[raw[0], depth], "float32"];
  }
  if (show(signature.shape) !== show(expected) || signature.dtype !== dtype) {
    fail(where, `gives ids of shape ${show(expected)} and dtype ${dtype}, but the input is ${show(signature.shape)} ${signature.dtype}`);
  }
}
