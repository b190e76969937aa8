"""Reading one image file into a float32 array with Pillow (an optional dependency: ``pip install pillow``).

Resizing works on each channel as a 32-bit float image, so the result is not rounded to 8 bits (Keras
resizes float tensors too).
"""
import numpy as np

INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3")


def pillow():
    """The ``PIL.Image`` module, or an ImportError that says how to install it."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError("Reading images needs Pillow: pip install pillow (or pip install 'pyml[images]')") from error
    return Image


def crop_box(height, width, target_height, target_width):
    """The largest centred ``(left, top, right, bottom)`` box with the target's aspect ratio (Keras smart_resize)."""
    crop_height = min(height, int(width * target_height / target_width))
    crop_width = min(width, int(height * target_width / target_height))
    top, left = int((height - crop_height) / 2), int((width - crop_width) / 2)
    return left, top, left + crop_width, top + crop_height


def load_image(path, image_size, num_channels=3, interpolation="bilinear", crop_to_aspect_ratio=False):
    """The image at ``path`` as float32 ``(height, width, num_channels)``, values 0-255, resized to
    ``image_size`` (``(height, width)``) with Pillow's ``interpolation`` filter.

    ``path=None`` only checks the arguments (so a dataset fails when it is made, not at its first batch).

        >>> import tempfile
        >>> from PIL import Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> Image.new("L", (6, 2), 100).save(path)
        >>> pyml.utils.images.load_image(path, (3, 3), num_channels=3)[..., 0]
        array([[100., 100., 100.],
               [100., 100., 100.],
               [100., 100., 100.]], dtype=float32)
    """
    image_module = pillow()
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}")
    if num_channels not in (1, 3, 4):
        raise ValueError(f"num_channels must be 1, 3 or 4. Received: num_channels={num_channels}")
    height, width = (int(d) for d in image_size)
    if height <= 0 or width <= 0:
        raise ValueError(f"image_size must be positive. Received: image_size={tuple(image_size)}")
    if path is None:
        return None
    resampling = {"bilinear": image_module.Resampling.BILINEAR, "nearest": image_module.Resampling.NEAREST,
                  "bicubic": image_module.Resampling.BICUBIC, "area": image_module.Resampling.BOX,
                  "lanczos3": image_module.Resampling.LANCZOS}[interpolation]
    with image_module.open(path) as image:  # a GIF opens at its first frame
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[num_channels]
        if image.mode != mode and not (num_channels == 1 and image.mode in ("I;16", "I", "F")):
            image = image.convert(mode)
        pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if crop_to_aspect_ratio:  # crop, then resize (as Keras): the filter sees no pixels outside the window
        left, top, right, bottom = crop_box(pixels.shape[0], pixels.shape[1], height, width)
        pixels = pixels[top:bottom, left:right]
    if pixels.shape[:2] == (height, width):  # already the size asked for: every filter would return it unchanged
        return pixels
    channels = [image_module.fromarray(np.ascontiguousarray(pixels[..., c])).resize((width, height), resampling)
                for c in range(pixels.shape[-1])]
    return np.stack([np.asarray(c) for c in channels], axis=-1)
