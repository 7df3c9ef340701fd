"""Decoding an image folder in parallel with tf.data: the engine of the cache build.

libjpeg-turbo, libpng and the other decoders run in TensorFlow's C++ thread pool: no GIL, no
worker processes, nothing pickled. Most of the cost of a photo is its JPEG decoding, so JPEGs
(CelebA's format) are decoded only inside their crop box, and at 1/2, 1/4 or 1/8 scale in the
DCT domain when the crop is that many times larger than image_size. Other formats are decoded
whole (decode_image: PNG, GIF, BMP, WebP; grey, palette, RGBA, CMYK and 16-bit become RGB).

Transparent pixels (PNG, BMP and WebP alpha) are flattened onto the background colour, as
Pillow does for the files it decodes (GIFs, whose transparency TensorFlow drops, go to Pillow).
A JPEG that would still decode to more than MAX_DECODE_PIXELS at 1/8 scale is refused here.

A file TensorFlow cannot decode is dropped from the stream (ignore_errors) and its index goes
missing from the output; the caller hands it to Pillow (image_folder.decode_rgb), which reads
it after all or says why not. Both paths end in the same finish(): resize, grey, round to uint8.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from vaecli.data.image_folder import JPEG_SUFFIXES, MAX_DECODE_PIXELS, Preprocessing

if TYPE_CHECKING:
    import tensorflow as tf

BATCH = 64  # images per item of a tf.data stream: amortises its per-element overhead
PILLOW_SUFFIXES = (".gif",)  # TensorFlow's GIF decoder drops transparency: Pillow flattens it onto the background
DCT_RATIOS = (1, 2, 4, 8)  # the scales libjpeg decodes at through TensorFlow


def _dct_ratio(side: int, image_size: int) -> int:
    """The largest ratio at which a crop of this side still covers image_size pixels (as Pillow's draft)."""
    return max(ratio for ratio in DCT_RATIOS if ratio == 1 or side // ratio >= image_size)


def finish(cropped: tf.Tensor | np.ndarray, preprocessing: Preprocessing) -> tf.Tensor:
    """A cropped RGB uint8 image (H, W, 3) -> the (S, S, C) uint8 image the cache holds.

    Area averaging when shrinking (each output pixel is the mean of the source pixels it covers:
    no aliasing, and half the cost of a widened bilinear kernel); bilinear when enlarging.
    With an explicit crop box the choice is known here, in Python: no per-image branch.
    """
    import tensorflow as tf

    size = preprocessing.image_size
    image = tf.cast(cropped, tf.float32)

    def resize(method: str) -> Callable[[], tf.Tensor]:
        return lambda: tf.image.resize(image, (size, size), method=method)

    if isinstance(preprocessing.crop, str):  # "center"
        image = tf.cond(tf.reduce_min(tf.shape(cropped)[:2]) >= size, resize("area"), resize("bilinear"))
    else:
        image = resize("area" if min(preprocessing.crop[2:]) >= size else "bilinear")()
    if preprocessing.channels == "grayscale":
        image = tf.image.rgb_to_grayscale(image)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.ensure_shape(image, preprocessing.shape)


def _crop_window(height: tf.Tensor, width: tf.Tensor, crop: str | tuple[int, int, int, int]) -> tuple[tf.Tensor, ...]:
    """(top, left, box_height, box_width) as int32 tensors; an explicit box that does not fit fails the file."""
    import tensorflow as tf

    if isinstance(crop, str):  # "center"
        side = tf.minimum(height, width)
        return (height - side) // 2, (width - side) // 2, side, side
    top, left, box_height, box_width = crop
    fits = tf.logical_and(top + box_height <= height, left + box_width <= width)
    with tf.control_dependencies([tf.debugging.Assert(fits, ["crop box outside the image"])]):
        return tuple(tf.identity(value) for value in crop)


def _decode_jpeg(data: tf.Tensor, preprocessing: Preprocessing) -> tf.Tensor:
    """Only the crop box, at the smallest DCT scale that still covers image_size pixels."""
    import tensorflow as tf

    crop, size = preprocessing.crop, preprocessing.image_size
    fixed_ratio = None if isinstance(crop, str) else _dct_ratio(min(crop[2:]), size)
    if fixed_ratio == 1:
        return tf.io.decode_and_crop_jpeg(data, crop, channels=3)  # CelebA's case: no header read, no branch
    height, width = tf.unstack(tf.io.extract_jpeg_shape(data)[:2])
    top, left, box_height, box_width = _crop_window(height, width, crop)

    def at_ratio(ratio: int) -> Callable[[], tf.Tensor]:
        def decode() -> tf.Tensor:  # the box in the pixels of the reduced image, whose sides libjpeg rounds up
            scale_y = tf.cast(-(-height // ratio), tf.float64) / tf.cast(height, tf.float64)
            scale_x = tf.cast(-(-width // ratio), tf.float64) / tf.cast(width, tf.float64)
            rows = tf.cast(tf.round(tf.cast([top, top + box_height], tf.float64) * scale_y), tf.int32)
            columns = tf.cast(tf.round(tf.cast([left, left + box_width], tf.float64) * scale_x), tf.int32)
            window = tf.stack([rows[0], columns[0], rows[1] - rows[0], columns[1] - columns[0]])
            return tf.io.decode_and_crop_jpeg(data, window, channels=3, ratio=ratio)

        return decode

    if fixed_ratio is not None:
        return at_ratio(fixed_ratio)()
    side = tf.minimum(box_height, box_width)
    branch = tf.add_n([tf.cast(side // ratio >= size, tf.int32) for ratio in DCT_RATIOS[1:]])
    ratio = tf.gather(tf.constant(DCT_RATIOS, tf.int64), branch)
    decoded_pixels = (tf.cast(box_height, tf.int64) // ratio) * (tf.cast(box_width, tf.int64) // ratio)
    with tf.control_dependencies([tf.debugging.Assert(decoded_pixels <= MAX_DECODE_PIXELS, ["too large"])]):
        branch = tf.identity(branch)  # refused here, Pillow gives the reason
    return tf.switch_case(branch, [at_ratio(ratio) for ratio in DCT_RATIOS])


def _decode_other(data: tf.Tensor, preprocessing: Preprocessing) -> tf.Tensor:
    """PNG, BMP, WebP (and JPEGs under another name): decoded whole (the caller refused files over
    MAX_DECODE_PIXELS from their headers), cropped, then flattened onto the background."""
    import tensorflow as tf

    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff")
    image = tf.cond(
        is_jpeg,
        lambda: tf.io.decode_jpeg(data, channels=3),  # CMYK too; its 4 channels are not an alpha
        lambda: tf.io.decode_image(data, expand_animations=False, dtype=tf.uint8),  # 1 to 4 channels as stored
    )
    shape = tf.shape(image)
    top, left, box_height, box_width = _crop_window(shape[0], shape[1], preprocessing.crop)
    return _flatten(image[top : top + box_height, left : left + box_width], preprocessing.background)


def _flatten(image: tf.Tensor, background: tuple[int, int, int]) -> tf.Tensor:
    """Grey, grey + alpha, RGB or RGBA uint8 -> RGB uint8, transparent pixels mixed with background."""
    import tensorflow as tf

    channels = tf.shape(image)[-1]
    colour = tf.cond(channels < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1), lambda: image[..., :3])

    def composite() -> tf.Tensor:
        alpha = tf.cast(image[..., -1:], tf.float32) / 255.0
        mixed = tf.cast(colour, tf.float32) * alpha + tf.constant(background, tf.float32) * (1.0 - alpha)
        return tf.cast(tf.round(mixed), tf.uint8)

    return tf.cond(tf.equal(channels % 2, 0), composite, lambda: colour)  # 2 and 4 channels carry alpha


def _stream(
    paths: list[str],
    indices: list[int],
    decode: Callable[[tf.Tensor, Preprocessing], tf.Tensor],
    preprocessing: Preprocessing,
    threads: int | None,
) -> Iterator[tuple[int, np.ndarray]]:
    import tensorflow as tf

    @tf.autograph.experimental.do_not_convert  # plain TF ops: converting them would cost ~1 s per build
    def load(index: tf.Tensor, path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return index, finish(decode(tf.io.read_file(path), preprocessing), preprocessing)

    dataset = (
        tf.data.Dataset.from_tensor_slices(
            (tf.constant(indices, tf.int64), tf.constant([paths[index] for index in indices], tf.string))
        )
        .map(load, num_parallel_calls=threads or tf.data.AUTOTUNE, deterministic=True)
        .ignore_errors()  # the failed file's index goes missing; the caller asks Pillow about it
        .batch(BATCH)
        .prefetch(2)
    )
    if threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        dataset = dataset.with_options(options)
    for batch_indices, images in dataset.as_numpy_iterator():
        yield from zip(batch_indices.tolist(), images)


def decoded_images(
    paths: list[str], preprocessing: Preprocessing, threads: int | None = None, skip: set[int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(index into paths, image) in path order; the indices of files TensorFlow could not decode (and of
    those in skip) are missing.

    JPEGs and the rest go through two pipelines (so neither branches per image) merged by index.
    """
    jpeg: list[int] = []
    other: list[int] = []
    for index, path in enumerate(paths):
        if skip and index in skip:
            continue
        (jpeg if path.lower().endswith(JPEG_SUFFIXES) else other).append(index)
    groups = [(indices, decode) for indices, decode in ((jpeg, _decode_jpeg), (other, _decode_other)) if indices]
    threads_each = threads and max(1, threads // max(1, len(groups)))  # --threads: the budget of both pipelines
    streams = [_stream(paths, indices, decode, preprocessing, threads_each) for indices, decode in groups]
    return heapq.merge(*streams, key=itemgetter(0))
