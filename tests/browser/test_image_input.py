"""``fromImage`` (web/src/image-input.js) in Chromium against pyml's preprocessing layers in Python.

The scikit-learn sample photos (china, flower: 427x640 RGB) are written as PNG, which the browser decodes
losslessly, so an ``<img>``, a ``<canvas>``, an OffscreenCanvas and an ImageBitmap made from them hold the same
pixels as NumPy; ImageData is built in the page from the raw bytes. For each source, ``fromImage`` without options
must give the pixels exactly (nothing resampled or colour-converted), and with options the tensor pyml's
``Resizing`` → ``Rescaling`` → ``Normalization`` layers compute from the same pixels, within 1e-3 per value.

The ``<video>`` source plays tests/browser/data/flower-crop-64x96-vp9-lossless.webm: one frame, the flower photo's
rows 160:224, columns 240:336, encoded as lossless VP9 in RGB (no YUV conversion, so it decodes exactly) by
``ffmpeg -i crop.png -frames:v 1 -c:v libvpx-vp9 -lossless 1 -pix_fmt gbrp -an -fflags +bitexact crop.webm``
(ffmpeg from the imageio-ffmpeg wheel). The test checks the decoded frame against that crop first.

End to end, a model exported with the preprocessing layers inside predicts on ``fromImage(img)`` (raw pixels) what
Python predicts on the photo, and the same model without them predicts the same on ``fromImage(img, {model,
scale, mean, std})``, on WebGPU and on the CPU.
"""
import base64

import numpy as np
import pytest
from PIL import Image

import pyml
from pyml.layers import Normalization, Rescaling, Resizing
from tests.browser.harness import decode
from tests.browser.test_runtime import ROOT, RecordingPage
from webexport import export

PHOTOS = ("china", "flower")
VIDEO = ROOT / "tests" / "browser" / "data" / "flower-crop-64x96-vp9-lossless.webm"
VIDEO_CROP = (slice(160, 224), slice(240, 336))  # the flower photo's window the clip holds
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

# The page side: each kind of source made from a URL (or raw RGBA bytes), and fromImage's result as base64 float32.
SOURCES = """() => {
  async function img(url) {
    const image = new Image();
    image.src = url;
    await image.decode();
    return image;
  }
  async function canvas(url) {
    const image = await img(url), c = document.createElement("canvas");
    [c.width, c.height] = [image.naturalWidth, image.naturalHeight];
    c.getContext("2d").drawImage(image, 0, 0);
    return c;
  }
  async function bitmap(url) {
    return createImageBitmap(await (await fetch(url)).blob());
  }
  async function offscreen(url) {
    const b = await bitmap(url), c = new OffscreenCanvas(b.width, b.height);
    c.getContext("bitmaprenderer").transferFromImageBitmap(b);
    return c;
  }
  async function video(url) {
    const v = document.createElement("video");
    v.muted = true;
    v.src = url;
    await new Promise((resolve, reject) => {
      v.onloadeddata = resolve;
      v.onerror = () => reject(new Error(`the <video> could not play ${url}: ${v.error && v.error.message}`));
    });
    return v;
  }
  async function videoFrame(url) {
    // Chromium may refuse a VideoFrame of a <video> for a moment after "loadeddata" ("Invalid source state"),
    // until its first frame reaches the compositor: try again for up to 5 s.
    const v = await video(url);
    for (let tries = 0; ; tries++) {
      try {
        return new VideoFrame(v, { timestamp: 0 });
      } catch (err) {
        if (err.name !== "InvalidStateError" || tries === 250) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  function imageData({ b64, shape: [height, width] }) {
    const bytes = Uint8ClampedArray.from(atob(b64), (ch) => ch.charCodeAt(0));
    return new ImageData(bytes, width, height);
  }
  const makers = { img, canvas, bitmap, offscreen, video, videoFrame, imageData };
  function encode(data) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  }
  window.imageInput = {
    make: (kind, from) => makers[kind](from),
    // fromImage of each options object in turn, on one source: [{b64, shape, dtype}] or the error's message.
    async tensors(kind, from, optionsList) {
      const source = await makers[kind](from), out = [];
      for (const options of optionsList) {
        const x = await harness.runtime.fromImage(source, options);
        out.push({ b64: encode(x.data), shape: x.shape, dtype: x.dtype });
      }
      if (source.close) source.close();
      return out;
    },
    async error(kind, from, options) {
      try {
        await harness.runtime.fromImage(kind === null ? from : await makers[kind](from), options);
        return null;
      } catch (err) {
        return `${err.name}: ${err.message}`;
      }
    },
  };
}"""

# (id, fromImage options): every option and both interpolations, down- and upsampling, per-channel statistics.
CASES = [
    ("224-rescale", dict(size=[224, 224], scale=1 / 255)),
    ("crop-nearest-centred", dict(size=[300, 500], cropToAspectRatio=True, interpolation="nearest",
                                  scale=1 / 127.5, offset=-1)),
    ("gray-normalized", dict(size=[64, 96], channels=1, mean=118.5, std=61.25)),
    ("imagenet-crop", dict(size=224, cropToAspectRatio=True, scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD)),
    ("rgba-upsample", dict(size=[500, 700], channels=4, scale=[1, 0.5, 2, 1 / 255], offset=[0, 1, -3, 0])),
    ("tall-crop", dict(size=[200, 50], cropToAspectRatio=True)),
    ("gray-raw", dict(size=[100, 150], channels=1)),
    ("letterbox", dict(size=[256, 256], padToAspectRatio=True, fillValue=114, scale=1 / 255)),
    ("pillarbox-gray", dict(size=[50, 200], padToAspectRatio=True, channels=1, fillValue=-3)),
]


def channel_pixels(rgb, channels):
    """float32 (1, H, W, channels) from uint8 RGB: as the source is, grayscale by rgb_to_grayscale, or opaque RGBA."""
    x = rgb.astype(np.float32)
    if channels == 1:
        x = pyml.ops.image.rgb_to_grayscale(x).numpy()
    elif channels == 4:
        x = np.concatenate([x, np.full(x.shape[:-1] + (1,), 255, np.float32)], axis=-1)
    return x[None]


def python_preprocess(rgb, size=None, channels=3, interpolation="bilinear", cropToAspectRatio=False,  # noqa: N803
                      padToAspectRatio=False, fillValue=0.0, scale=1.0, offset=0.0, mean=0.0, std=1.0):  # noqa: N803
    """What pyml's layers compute from the same pixels, the reference fromImage must match."""
    x = pyml.Tensor(channel_pixels(rgb, channels))
    size = [size, size] if isinstance(size, int) else size
    if size is not None:
        x = Resizing(*size, interpolation=interpolation, crop_to_aspect_ratio=cropToAspectRatio,
                     pad_to_aspect_ratio=padToAspectRatio, fill_value=fillValue)(x)
    x = Rescaling(scale, offset)(x)
    return Normalization(mean=mean, variance=np.square(std).tolist())(x).numpy()


@pytest.fixture(scope="module")
def photos(web_server):
    """{name: uint8 (427, 640, 3)}, each also served as images/<name>.png; the clip as images/flower-crop.webm."""
    images = dict(zip(PHOTOS, pyml.datasets.sample_images.load_data()))
    folder = web_server.path("images")
    folder.mkdir(exist_ok=True)
    for name, pixels in images.items():
        Image.fromarray(pixels).save(folder / f"{name}.png")
    (folder / "flower-crop.webm").write_bytes(VIDEO.read_bytes())
    return images


@pytest.fixture(scope="module")
def page(shared_page):
    """This module's `page`: the module's one harness page (conftest's `shared_page`) with window.imageInput."""
    harness, _ = shared_page
    harness.evaluate(SOURCES)
    return harness


def tensors(page, kind, source, options_list):
    """fromImage(source of `kind`, options) in the page for each options object, as numpy arrays."""
    results = page.evaluate("([kind, from, list]) => imageInput.tensors(kind, from, list)", [kind, source, options_list])
    for result in results:
        assert result["dtype"] == "float32"
    return [decode(result) for result in results]


def source_of(kind, web_server, name, rgb):
    """The page's `from` for a source kind: the PNG's URL, or for ImageData the opaque RGBA bytes."""
    if kind == "imageData":
        rgba = np.concatenate([rgb, np.full(rgb.shape[:-1] + (1,), 255, np.uint8)], -1)
        return {"b64": base64.b64encode(rgba.tobytes()).decode("ascii"), "shape": list(rgb.shape[:2])}
    return web_server.url(f"images/{name}.png")


@pytest.mark.parametrize("kind", ["img", "canvas", "offscreen", "bitmap", "imageData"])
@pytest.mark.parametrize("name", PHOTOS)
def test_each_source_gives_its_pixels_exactly_and_the_layers_result(page, web_server, photos, kind, name):
    rgb = photos[name]
    raw, rgba, imagenet = tensors(page, kind, source_of(kind, web_server, name, rgb),
                                  [{}, {"channels": 4}, dict(CASES[3][1])])
    assert raw.shape == (1, 427, 640, 3)
    np.testing.assert_array_equal(raw[0], rgb, err_msg=f"the {kind} pixels differ from the PNG's")
    np.testing.assert_array_equal(rgba, channel_pixels(rgb, 4))
    np.testing.assert_allclose(imagenet, python_preprocess(rgb, **CASES[3][1]), rtol=0, atol=1e-3)


@pytest.mark.parametrize("name", PHOTOS)
def test_every_option_matches_resizing_rescaling_normalization(page, web_server, photos, name):
    rgb = photos[name]
    got = tensors(page, "img", web_server.url(f"images/{name}.png"), [options for _, options in CASES])
    for (case, options), x in zip(CASES, got):
        want = python_preprocess(rgb, **options)
        assert x.shape == want.shape, case
        np.testing.assert_allclose(x, want, rtol=0, atol=1e-3, err_msg=f"{name}: {case}")


@pytest.mark.parametrize("kind", ["video", "videoFrame"])
def test_a_video_frame_gives_the_clip_pixels_and_the_layers_result(page, web_server, photos, kind):
    crop = photos["flower"][VIDEO_CROP]
    options = [{}, dict(size=[40, 56], scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD),
               dict(size=[100, 130], channels=1, cropToAspectRatio=True)]
    raw, small, gray = tensors(page, kind, web_server.url("images/flower-crop.webm"), options)
    np.testing.assert_array_equal(raw[0], crop, err_msg="the lossless clip's frame decoded to other pixels")
    np.testing.assert_allclose(small, python_preprocess(crop, **options[1]), rtol=0, atol=1e-3)
    np.testing.assert_allclose(gray, python_preprocess(crop, **options[2]), rtol=0, atol=1e-3)


@pytest.fixture(scope="module")
def models(web_server, photos):
    """Two bundles sharing their weights: `full` takes raw 427x640 photos and resizes, rescales and normalises
    them itself; `core` takes the 64x64 preprocessed image. Returns (Python full model, urls)."""
    pyml.utils.set_random_seed(11)
    core = pyml.Sequential([pyml.Input((64, 64, 3)), pyml.layers.Conv2D(4, 3, activation="relu"),
                            pyml.layers.GlobalAveragePooling2D(), pyml.layers.Dense(5)])
    full = pyml.Sequential([pyml.Input((427, 640, 3)), Resizing(64, 64, crop_to_aspect_ratio=True),
                            Rescaling(1 / 255), Normalization(mean=IMAGENET_MEAN, variance=np.square(IMAGENET_STD).tolist()),
                            *core.layers])
    export(full, web_server.path("image-input/full"))
    export(core, web_server.path("image-input/core"))
    return full, {name: web_server.url(f"image-input/{name}/model.json") for name in ("full", "core")}


END_TO_END = """async ([fullUrl, coreUrl, photoUrl, backend]) => {
  const { loadModel, fromImage } = harness.runtime;
  const image = await imageInput.make("img", photoUrl);
  const full = await loadModel(fullUrl, { backend }), core = await loadModel(coreUrl, { backend });
  const raw = await full.predict(await fromImage(image));
  const pre = await core.predict(await fromImage(image, { model: core, cropToAspectRatio: true, scale: 1 / 255,
    mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }));
  const shorthand = await fromImage(image, core);
  const result = { raw: Array.from(raw.data), pre: Array.from(pre.data), backend: full.info.backend,
    shorthand: shorthand.shape };
  full.dispose();
  core.dispose();
  return result;
}"""


@pytest.mark.parametrize("backend", ["webgpu", "cpu"])
@pytest.mark.parametrize("name", PHOTOS)
def test_a_model_predicts_on_the_photo_as_in_python(page, web_server, photos, models, backend, name):
    if backend == "webgpu":
        page.require_webgpu()
    full, urls = models
    want = full.predict(photos[name][None].astype(np.float32), verbose=0)[0]
    got = page.evaluate(END_TO_END, [urls["full"], urls["core"], web_server.url(f"images/{name}.png"), backend])
    assert got["backend"] == ("webgpu" if backend == "webgpu" else "wasm")
    assert got["shorthand"] == [1, 64, 64, 3]  # fromImage(source, model): the size and channels of its input
    np.testing.assert_allclose(got["raw"], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["pre"], want, rtol=1e-4, atol=1e-4)


ERRORS = [  # (id, source kind, source, options, the message's words)
    ("number-source", None, 42, {}, "TypeError: fromImage: unsupported source (number); pass an HTMLImageElement"),
    ("plain-object", None, {"width": 2}, {}, "unsupported source (Object)"),
    ("bad-channels", "img", "china", {"channels": 2}, "options.channels must be 1 (grayscale), 3 (RGB) or 4 (RGBA). "
                                                      "Received: channels=2"),
    ("bad-size", "img", "china", {"size": [0, 5]}, "options.size must be [height, width]"),
    ("bad-interpolation", "img", "china", {"interpolation": "bicubic"}, "options.interpolation must be"),
    ("per-channel-length", "img", "china", {"mean": [1, 2]}, "options.mean must be a finite number or 3 of them"),
    ("zero-std", "img", "china", {"std": 0}, "options.std must be positive"),
    ("typo-option", "img", "china", {"crop_to_aspect_ratio": True}, "unknown option crop_to_aspect_ratio"),
    ("crop-without-size", "img", "china", {"cropToAspectRatio": True}, "cropToAspectRatio needs options.size"),
    ("crop-and-pad", "img", "china", {"size": 9, "cropToAspectRatio": True, "padToAspectRatio": True},
     "only one of options.cropToAspectRatio and options.padToAspectRatio"),
]


@pytest.mark.parametrize("case, kind, source, options, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_sources_and_options_are_refused_naming_them(page, web_server, photos, case, kind, source, options, words):
    source = web_server.url(f"images/{source}.png") if kind else source
    message = page.evaluate("([kind, from, options]) => imageInput.error(kind, from, options)", [kind, source, options])
    assert message is not None and words in message, message


def test_empty_broken_and_cross_origin_sources_are_refused_saying_why(page, web_server, photos):
    # localhost is another origin than the page's 127.0.0.1: its image draws, but taints the canvas.
    other_origin = web_server.url("images/china.png").replace("127.0.0.1", "localhost")
    messages = page.evaluate("""async (otherOrigin) => {
      const { fromImage } = harness.runtime;
      const attempt = (source) => fromImage(source).then(() => null, (err) => err.message);
      const bitmap = await createImageBitmap(new ImageData(2, 2));
      bitmap.close();
      const broken = Object.assign(new Image(), { src: "data:image/png;base64,AAAA" });
      const foreign = await imageInput.make("img", otherOrigin);
      return [await attempt(Object.assign(document.createElement("canvas"), { width: 0, height: 5 })),
              await attempt(bitmap), await attempt(document.createElement("video")),
              await attempt({ data: new Uint8ClampedArray(0), width: 0, height: 0 }),
              await attempt({ data: new Uint8ClampedArray(7), width: 1, height: 2 }),
              await attempt(broken), await attempt(foreign)];
    }""", other_origin)
    assert "the HTMLCanvasElement is empty (0x5 pixels)" in messages[0]
    assert "the ImageBitmap is empty (0x0 pixels)" in messages[1]
    assert "the <video> has no frame yet (readyState 0)" in messages[2]
    assert "the ImageData is empty (0x0 pixels)" in messages[3]
    assert "the ImageData holds 7 bytes, not width * height * 4 = 8" in messages[4]
    assert 'the <img> "data:image/png;base64,AAAA" could not be loaded and decoded' in messages[5]
    assert "the <img> is cross-origin, so the page may not read its pixels" in messages[6]


def test_a_model_without_an_image_input_is_refused_naming_it(page, web_server):
    model = pyml.Sequential([pyml.Input((6,), name="features"), pyml.layers.Dense(2)])
    export(model, web_server.path("image-input/flat"))
    message = page.evaluate("""async (url) => {
      const model = await harness.runtime.loadModel(url, { backend: "js" });
      try { await harness.runtime.fromImage(new ImageData(2, 2), model); return null; }
      catch (err) { return err.message; } finally { model.dispose(); }
    }""", web_server.url("image-input/flat/model.json"))
    assert message is not None and "the model's input features (float32 [null, 6]) is not a float32 image" in message


def test_a_page_that_never_calls_fromImage_never_downloads_it(browser, web_server, page_errors, models, photos):
    recorded = RecordingPage(browser, web_server, page_errors)
    try:
        recorded.page.evaluate("""async (url) => {
          const model = await harness.runtime.loadModel(url, { backend: "js" });
          await model.predict(new Float32Array(64 * 64 * 3), [1, 64, 64, 3]);
          model.dispose();
        }""", models[1]["core"])
        assert "image-input.js" not in recorded.runtime_files(), sorted(recorded.runtime_files())
        shape = recorded.page.evaluate("async () => (await harness.runtime.fromImage(new ImageData(3, 2))).shape")
        assert shape == [1, 2, 3, 3] and "image-input.js" in recorded.runtime_files()
    finally:
        recorded.page.close()
    page_errors.check()


def test_fromImage_runs_in_a_worker_on_a_transferred_bitmap(page, web_server, photos):
    """In a Web Worker (no document, no HTMLImageElement) an ImageBitmap is drawn on an OffscreenCanvas."""
    options = dict(size=[50, 70], scale=1 / 255)
    result = page.evaluate("""async ([photoUrl, runtimeUrl, options]) => {
      const source = `import { fromImage } from ${JSON.stringify(runtimeUrl)};
        onmessage = async ({ data }) => {
          try { postMessage(await fromImage(data.bitmap, data.options)); } catch (err) { postMessage(String(err)); }
        };`;
      const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })), { type: "module" });
      const bitmap = await createImageBitmap(await (await fetch(photoUrl)).blob());
      const reply = new Promise((resolve) => { worker.onmessage = ({ data }) => resolve(data); });
      worker.postMessage({ bitmap, options }, [bitmap]);
      const x = await reply;
      worker.terminate();
      return typeof x === "string" ? x : { data: Array.from(x.data), shape: x.shape };
    }""", [web_server.url("images/flower.png"), web_server.url("runtime/index.js"), options])
    assert not isinstance(result, str), result
    got = np.array(result["data"], np.float32).reshape(result["shape"])
    np.testing.assert_allclose(got, python_preprocess(photos["flower"], **options), rtol=0, atol=1e-3)


def test_a_worker_model_gives_fromImage_its_input_size(page, web_server, photos, models):
    """fromImage(source, {model}) reads a WorkerModel's info as a Model's; its tensor crosses to the worker."""
    full, urls = models
    want = full.predict(photos["china"][None].astype(np.float32), verbose=0)[0]
    got = page.evaluate("""async ([coreUrl, photoUrl]) => {
      const { loadModel, fromImage } = harness.runtime;
      const image = await imageInput.make("img", photoUrl);
      const model = await loadModel(coreUrl, { backend: "cpu", worker: true });
      const x = await fromImage(image, { model, cropToAspectRatio: true, scale: 1 / 255,
        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
      const y = await model.predict(x);
      model.dispose();
      return Array.from(y.data);
    }""", [urls["core"], web_server.url("images/china.png")])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
