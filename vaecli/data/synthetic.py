"""Procedural cartoon faces with known attributes: an embedded dataset.

Real face datasets need a download, licences and disk space, and their
attributes are noisy human labels. This module draws simple RGB cartoon faces
(background, hair, head, eyes, optional glasses, mouth) from random parameters
that are returned alongside the images, so an experiment can run anywhere with
no download and then ask how the latent space encodes each known factor
(attribute vectors, traversals, classifier probes).

Everything is drawn in image-relative coordinates with soft (anti-aliased)
edges, so faces look the same at any resolution and are smooth enough for a
VAE to learn. Drawing is vectorised over chunks of images with NumPy
broadcasting; 20,000 images at 64x64 take a few seconds on a small CPU.

Each attribute comes from its own random stream, so image i depends only on
(seed, i): the first N images of a larger set equal a set of N with that seed.
"""

from __future__ import annotations

import numpy as np

# Attribute meanings and ranges (one array of length num_images each):
#   smile        int 0/1: 1 = mouth curves up; 0 = flat or curving down.
#   hair_colour  int 0..4: black, brown, blond, red, grey.
#   glasses      int 0/1: 1 = two rings around the eyes joined by a bridge.
#   face_x       float in about [0.28, 0.72]: head centre, fraction of width
#                from the left (bigger heads get a narrower range).
#   face_y       float in about [0.28, 0.72]: head centre, fraction of height
#                from the top.
#   face_size    float in [0.22, 0.32): head's vertical radius / image size
#                (the head is 0.82 times as wide as it is tall).
#   background   int 0..3: sky blue, mint green, lavender, pale yellow.
#   skin_tone    int 0..3: light to dark.
ATTRIBUTE_NAMES: tuple[str, ...] = (
    "smile",
    "hair_colour",
    "glasses",
    "face_x",
    "face_y",
    "face_size",
    "background",
    "skin_tone",
)

HAIR_COLOURS = np.array([[35, 30, 30], [115, 70, 35], [235, 200, 95], [200, 75, 35], [175, 175, 180]], np.float32)
BACKGROUND_COLOURS = np.array([[140, 190, 240], [150, 220, 165], [190, 160, 225], [245, 230, 140]], np.float32)
SKIN_COLOURS = np.array([[255, 222, 196], [235, 190, 150], [190, 135, 95], [130, 85, 60]], np.float32)
EYE_COLOUR, MOUTH_COLOUR, GLASSES_COLOUR = (25, 25, 35), (150, 30, 45), (20, 20, 25)

MIN_FACE_SIZE, MAX_FACE_SIZE = 0.22, 0.32
# Hair reaches 1.2 radii above the centre; keeping this many radii (plus a
# small gap) from every border guarantees the whole head stays in frame.
HEAD_EXTENT_RADII, FRAME_GAP = 1.2, 0.02
NOISE_LEVEL = 2.0  # standard deviation of per-pixel noise, in 0..255 units
PIXELS_PER_CHUNK = 1 << 18  # bounds working memory and keeps arrays cache-friendly


def _draw_parameters(num_images: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.random.Generator]:
    """Draw every per-image parameter up front, one independent stream each.

    Separate streams (rather than one generator consumed in turn) keep image i
    independent of num_images, which gives the prefix property.
    """
    streams = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(10)]
    face_size = streams[5].uniform(MIN_FACE_SIZE, MAX_FACE_SIZE, num_images)
    # Shift range shrinks for big heads so the hair and chin never leave the frame.
    free_range = 0.5 - HEAD_EXTENT_RADII * face_size - FRAME_GAP
    attributes: dict[str, np.ndarray] = {
        "smile": streams[0].integers(0, 2, num_images),
        "hair_colour": streams[1].integers(0, len(HAIR_COLOURS), num_images),
        "glasses": streams[2].integers(0, 2, num_images),
        "face_x": (0.5 + free_range * streams[3].uniform(-1, 1, num_images)).astype(np.float32),
        "face_y": (0.5 + free_range * streams[4].uniform(-1, 1, num_images)).astype(np.float32),
        "face_size": face_size.astype(np.float32),
        "background": streams[6].integers(0, len(BACKGROUND_COLOURS), num_images),
        "skin_tone": streams[7].integers(0, len(SKIN_COLOURS), num_images),
    }
    # Mouth curvature in head radii: clearly up for smiles, flat to frown otherwise.
    curve = streams[8].uniform(0, 1, num_images)
    mouth_curve = np.where(attributes["smile"] == 1, 0.12 + 0.10 * curve, -0.14 * curve)
    return attributes, mouth_curve.astype(np.float32), streams[9]


def _column(values: np.ndarray) -> np.ndarray:
    """Reshape per-image values to (batch, 1, 1) so they broadcast over pixels."""
    return np.asarray(values, np.float32)[:, None, None]


def _soft_step(signed_pixels: np.ndarray) -> np.ndarray:
    """Map a signed distance in pixels (positive = inside) to a soft coverage."""
    return np.clip(signed_pixels + 0.5, 0.0, 1.0)


def _ellipse(
    xs: np.ndarray,
    ys: np.ndarray,
    centre_x: np.ndarray,
    centre_y: np.ndarray,
    radius_x: np.ndarray,
    radius_y: np.ndarray,
    image_size: int,
) -> np.ndarray:
    """Soft filled ellipse, shape (batch, size, size).

    Uses the squared normalised distance q: near the edge 1 - q is about twice
    the distance to the edge in radii, so no square root over the full grid is
    needed. The x and y terms are built on small 1-D arrays and meet in a
    single broadcast add.
    """
    sharpness = 0.5 * np.minimum(radius_x, radius_y) * image_size
    term_x = sharpness * ((xs - centre_x) / radius_x) ** 2
    term_y = sharpness * (1.0 - ((ys - centre_y) / radius_y) ** 2) + 0.5
    alpha = term_y - term_x
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def _glasses(
    xs: np.ndarray,
    ys: np.ndarray,
    centre_x: np.ndarray,
    eye_y: np.ndarray,
    eye_offset: np.ndarray,
    ring_radius: np.ndarray,
    frame_width: np.ndarray,
    wearing: np.ndarray,
    image_size: int,
) -> np.ndarray:
    """Two soft rings around the eyes plus a bridge; zero where wearing == 0."""
    folded_x = np.abs(xs - centre_x) - eye_offset  # mirrors both rings onto one
    scale = image_size / (2.0 * ring_radius)  # |d^2 - R^2| / 2R approximates |d - R|
    ring = scale * folded_x**2 + scale * ((ys - eye_y) ** 2 - ring_radius**2)
    np.abs(ring, out=ring)
    # A very negative offset switches the whole layer off without a branch.
    offset = np.where(wearing > 0, frame_width * image_size + 0.5, -1e4).astype(np.float32)
    np.subtract(offset, ring, out=ring)
    np.clip(ring, 0.0, 1.0, out=ring)
    bridge_x = _soft_step((eye_offset - ring_radius - np.abs(xs - centre_x)) * image_size + 1.0)
    bridge_y = _soft_step((frame_width - np.abs(ys - eye_y)) * image_size) * (wearing > 0)
    return np.maximum(ring, bridge_x * bridge_y, out=ring)


def _mouth(
    xs: np.ndarray,
    ys: np.ndarray,
    centre_x: np.ndarray,
    mouth_y: np.ndarray,
    half_width: np.ndarray,
    curve: np.ndarray,
    thickness: np.ndarray,
    image_size: int,
) -> np.ndarray:
    """Soft parabolic arc; positive curve lifts the corners (a smile)."""
    relative_x = (xs - centre_x) / half_width
    arc_pixels = (mouth_y - curve * relative_x**2) * image_size  # (batch, 1, size)
    alpha = ys * image_size - arc_pixels
    np.abs(alpha, out=alpha)
    np.subtract(thickness * image_size + 0.5, alpha, out=alpha)
    ends = _soft_step((1.0 - np.abs(relative_x)) * half_width * image_size)
    np.minimum(alpha, ends, out=alpha)
    return np.maximum(alpha, 0.0, out=alpha)


def _render_chunk(attributes: dict[str, np.ndarray], mouth_curve: np.ndarray, image_size: int) -> np.ndarray:
    """Draw one chunk of faces; returns float32 (batch, 3, size, size) in 0..255.

    Layers are listed front to back and composited by coverage: each layer
    takes its alpha share of whatever is still visible, so the picture is a
    per-pixel weighted sum of a few flat colours, done as one batched matmul.
    """
    grid = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size
    xs, ys = grid[None, None, :], grid[None, :, None]
    r = _column(attributes["face_size"])
    cx, cy = _column(attributes["face_x"]), _column(attributes["face_y"])
    eye_y, eye_offset = cy - 0.12 * r, 0.32 * r
    head = _ellipse(xs, ys, cx, cy, 0.82 * r, r, image_size)
    hair = _ellipse(xs, ys, cx, cy - 0.15 * r, 0.98 * r, 1.05 * r, image_size)
    fringe = hair * _soft_step((cy - 0.45 * r - ys) * image_size)
    hair *= _soft_step((cy + 0.35 * r - ys) * image_size)  # long hair stops at the jaw
    eyes = _ellipse(np.abs(xs - cx) + cx, ys, cx + eye_offset, eye_y, 0.11 * r, 0.13 * r, image_size)
    glasses = _glasses(xs, ys, cx, eye_y, eye_offset, 0.22 * r, 0.045 * r, _column(attributes["glasses"]), image_size)
    mouth = _mouth(xs, ys, cx, cy + 0.5 * r, 0.36 * r, _column(mouth_curve) * r, 0.055 * r, image_size)

    batch = len(attributes["face_size"])
    layers = (glasses, eyes, mouth, fringe, head, hair)
    weights = np.empty((batch, len(layers) + 1, image_size, image_size), np.float32)
    visible = np.ones((batch, image_size, image_size), np.float32)
    for index, alpha in enumerate(layers):
        np.multiply(alpha, visible, out=weights[:, index])
        visible -= weights[:, index]
    weights[:, -1] = visible  # background shows through whatever is left

    colours = np.empty((batch, 3, len(layers) + 1), np.float32)
    colours[:, :, 0], colours[:, :, 1], colours[:, :, 2] = GLASSES_COLOUR, EYE_COLOUR, MOUTH_COLOUR
    colours[:, :, 3] = colours[:, :, 5] = HAIR_COLOURS[attributes["hair_colour"]]
    colours[:, :, 4] = SKIN_COLOURS[attributes["skin_tone"]]
    colours[:, :, 6] = BACKGROUND_COLOURS[attributes["background"]]
    pixels = np.matmul(colours, weights.reshape(batch, len(layers) + 1, -1))
    return pixels.reshape(batch, 3, image_size, image_size)


def generate_faces(num_images: int, image_size: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return (images, attributes): images uint8 (num_images, image_size, image_size, 3);
    attributes maps each name in ATTRIBUTE_NAMES to an array of length num_images.

    Same (num_images, image_size, seed) gives byte-identical output, and the
    first N images of a larger set equal generate_faces(N, image_size, seed).
    """
    if int(num_images) != num_images or num_images < 0:
        raise ValueError(f"num_images must be a non-negative integer, got {num_images!r}")
    if int(image_size) != image_size or image_size < 16:
        raise ValueError(f"image_size must be an integer >= 16 so faces stay recognisable, got {image_size!r}")
    num_images, image_size = int(num_images), int(image_size)

    attributes, mouth_curve, noise_stream = _draw_parameters(num_images, seed)
    images = np.empty((num_images, image_size, image_size, 3), np.uint8)
    # Chunk starts never depend on num_images, so the noise stream is consumed
    # in the same order for every set size (needed for the prefix property).
    chunk_size = max(1, PIXELS_PER_CHUNK // (image_size * image_size))
    for start in range(0, num_images, chunk_size):
        stop = min(start + chunk_size, num_images)
        chunk = {name: values[start:stop] for name, values in attributes.items()}
        pixels = _render_chunk(chunk, mouth_curve[start:stop], image_size)
        # One noise value per pixel shared by the channels: cheap, and just
        # enough texture that no two images are pixel-identical.
        noise = noise_stream.standard_normal((stop - start, 1, image_size, image_size), np.float32)
        pixels += NOISE_LEVEL * noise + 0.5  # + 0.5 rounds on the cast below
        np.clip(pixels, 0.0, 255.0, out=pixels)
        images[start:stop] = pixels.transpose(0, 2, 3, 1)
    return images, attributes
