"""A numpy z-buffer rasteriser for triangle meshes: orthographic view, Lambertian plus ambient shading.

Conventions (model units are millimetres, the face looks along +z with y up, the camera looks
along -z from +z, image rows go down and columns go right):

- azimuth (degrees) rotates the face about the vertical axis; positive turns the face towards
  the image's right (the nose moves right);
- elevation (degrees) then tilts it about the horizontal axis; positive turns the face up;
- width scales the face's x coordinate (before the rotations);
- the light is a distant light fixed to the camera; its angle (degrees) is measured about the
  vertical axis from the viewing direction: 0 lights the face from the front, positive from
  the image's right (so the right half of the picture is brighter), with a fixed elevation above.

A pixel's grey value is ``albedo * (ambient + (1 - ambient) * max(0, n . l))`` with the vertex
normals interpolated over each triangle (Gouraud shading); the background is 0. Anti-aliasing:
the mesh is rasterised at ``supersample`` times the resolution and averaged down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RenderSettings:
    """How a face is drawn; every field changes the pixels (and so is part of any cache key)."""

    image_size: int = 32
    supersample: int = 4
    view_mm: float = 230.0                                # side of the square field of view, model units
    pivot: tuple[float, float, float] = (0.0, 14.0, -60.0)  # rotation centre, drawn at the image centre
    ambient: float = 0.2
    albedo: float = 1.0
    light_elevation: float = 20.0                         # degrees above the horizontal plane

    def __post_init__(self) -> None:
        if self.image_size < 4 or self.supersample < 1:
            raise ValueError("image_size must be >= 4 and supersample >= 1")
        if not 0.0 <= self.ambient <= 1.0 or not 0.0 < self.albedo <= 1.0:
            raise ValueError("ambient must lie in [0, 1] and albedo in (0, 1]")
        if self.view_mm <= 0:
            raise ValueError("view_mm must be positive")


def rotation_matrix(azimuth: float, elevation: float) -> np.ndarray:
    """``R_x(elevation) @ R_y(azimuth)`` (degrees) with the sign conventions of the module docstring."""
    a, e = np.deg2rad(azimuth), np.deg2rad(elevation)
    ry = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(e), np.sin(e)], [0.0, -np.sin(e), np.cos(e)]])
    return rx @ ry


def light_vector(angle: float, elevation: float) -> np.ndarray:
    """Unit vector towards a distant light at ``angle`` about the vertical axis and ``elevation`` above (degrees)."""
    a, e = np.deg2rad(angle), np.deg2rad(elevation)
    return np.array([np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)])


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normals [V, 3]: the area-weighted sum of the normals of the triangles around each vertex.

    Triangles are taken as counter-clockwise seen from outside, so normals point outwards.
    """
    a, b, c = vertices[triangles[:, 0]], vertices[triangles[:, 1]], vertices[triangles[:, 2]]
    face = np.cross(b - a, c - a)  # length = twice the area: the weighting
    count = vertices.shape[0]
    normals = np.stack([
        sum(np.bincount(triangles[:, k], weights=face[:, axis], minlength=count) for k in range(3))
        for axis in range(3)
    ], axis=1)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(length, 1e-12)


def _edge(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Twice the signed area of (a, b, p): the edge function of a -> b at p."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


@dataclass(frozen=True)
class Fragments:
    """The visible surface of a rasterised mesh: for each covered pixel (flat index into the
    ``size`` x ``size`` image), the nearest triangle and the barycentric weights of the pixel
    centre in it. What a pixel shows depends on the pose alone, so one set of fragments serves
    every lighting of that pose."""

    pixel: np.ndarray     # [F] flat pixel indices, each once
    corners: np.ndarray   # [F, 3] vertex indices of the triangle drawn there
    weights: np.ndarray   # [F, 3] barycentric weights of the pixel centre
    size: int

    def image(self, values: np.ndarray) -> np.ndarray:
        """The float image [size, size] of per-vertex ``values`` [V] interpolated barycentrically
        over the drawn triangles (background 0)."""
        image = np.zeros(self.size * self.size)
        image[self.pixel] = (self.weights * values[self.corners]).sum(1)
        return image.reshape(self.size, self.size)


def visible_fragments(u: np.ndarray, v: np.ndarray, depth: np.ndarray, triangles: np.ndarray, size: int) -> Fragments:
    """Z-buffer visibility of a mesh in a ``size`` x ``size`` image.

    ``u``, ``v`` are vertex positions in pixels (column, row; pixel (i, j) has its centre at
    (i + 0.5, j + 0.5)) and ``depth`` grows towards the viewer. Only triangles that appear
    clockwise on screen (i.e. counter-clockwise in a y-up frame: facing the viewer) are drawn.
    Work is vectorised over triangles: triangles are grouped by the size of their pixel bounding
    box and each group tests all pixels of its boxes at once; the nearest candidate per pixel wins.
    """
    tu, tv, tz = u[triangles], v[triangles], depth[triangles]
    area = _edge(tu[:, 0], tv[:, 0], tu[:, 1], tv[:, 1], tu[:, 2], tv[:, 2])
    i0 = np.maximum(np.ceil(tu.min(1) - 0.5), 0).astype(np.int64)
    i1 = np.minimum(np.floor(tu.max(1) - 0.5), size - 1).astype(np.int64)
    j0 = np.maximum(np.ceil(tv.min(1) - 0.5), 0).astype(np.int64)
    j1 = np.minimum(np.floor(tv.max(1) - 0.5), size - 1).astype(np.int64)
    nw, nh = i1 - i0 + 1, j1 - j0 + 1
    box = np.maximum(nw, nh)
    drawn = (area < -1e-12) & (nw > 0) & (nh > 0)

    pixels, depths, weights, tris = [], [], [], []
    low = 0
    while drawn.any() and low < box[drawn].max():
        high = max(1, 2 * low)
        group = np.flatnonzero(drawn & (box > low) & (box <= high))
        low = high
        if group.size == 0:
            continue
        dy, dx = np.divmod(np.arange(high * high), high)
        px = i0[group, None] + dx
        py = j0[group, None] + dy
        cx, cy = px + 0.5, py + 0.5
        gu, gv = tu[group], tv[group]
        inv = 1.0 / area[group, None]
        w0 = _edge(gu[:, 1:2], gv[:, 1:2], gu[:, 2:3], gv[:, 2:3], cx, cy) * inv
        w1 = _edge(gu[:, 2:3], gv[:, 2:3], gu[:, 0:1], gv[:, 0:1], cx, cy) * inv
        w2 = 1.0 - w0 - w1
        inside = (dx < nw[group, None]) & (dy < nh[group, None]) & (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        rows, cols = np.nonzero(inside)
        found = np.stack([w0[rows, cols], w1[rows, cols], w2[rows, cols]], axis=1)
        tri = group[rows]
        pixels.append(py[rows, cols] * size + px[rows, cols])
        depths.append((found * tz[tri]).sum(1))
        weights.append(found)
        tris.append(tri)

    if not pixels:
        return Fragments(np.zeros(0, np.int64), np.zeros((0, 3), np.int64), np.zeros((0, 3)), size)
    pixel, near = np.concatenate(pixels), np.concatenate(depths)
    order = np.lexsort((-near, pixel))           # by pixel, nearest first
    pixel = pixel[order]
    first = np.ones(pixel.shape[0], dtype=bool)
    first[1:] = pixel[1:] != pixel[:-1]
    nearest = order[first]
    return Fragments(pixel[first], triangles[np.concatenate(tris)[nearest]], np.concatenate(weights)[nearest], size)


def pose(vertices: np.ndarray, azimuth: float, elevation: float, width: float, settings: RenderSettings) -> np.ndarray:
    """Vertices [V, 3] relative to the pivot, widened along x, then rotated (camera frame, millimetres)."""
    local = (np.asarray(vertices, dtype=np.float64) - np.asarray(settings.pivot)) * np.array([width, 1.0, 1.0])
    return local @ rotation_matrix(azimuth, elevation).T


def to_pixels(posed: np.ndarray, size: int, settings: RenderSettings) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic projection of posed vertices onto a ``size`` x ``size`` image: (column, row) in pixels."""
    scale = size / settings.view_mm
    return posed[:, 0] * scale + size / 2, size / 2 - posed[:, 1] * scale


def render_lights(
    vertices: np.ndarray,
    triangles: np.ndarray,
    azimuth: float,
    elevation: float,
    lights: np.ndarray | list[float],
    width: float = 1.0,
    settings: RenderSettings = RenderSettings(),
) -> np.ndarray:
    """uint8 grey images [L, S, S] of the mesh ``vertices`` [V, 3] in one pose under each of the
    ``lights`` (angles, degrees): the pose is rasterised once and only the shading is redone per
    light, so L lights cost little more than one."""
    posed = pose(vertices, azimuth, elevation, width, settings)
    normals = vertex_normals(posed, triangles)
    size = settings.image_size * settings.supersample
    u, v = to_pixels(posed, size, settings)
    fragments = visible_fragments(u, v, posed[:, 2], triangles, size)
    s, n = settings.supersample, settings.image_size
    images = np.empty((len(lights), n, n), dtype=np.uint8)
    for k, light in enumerate(lights):
        lambert = np.clip(normals @ light_vector(light, settings.light_elevation), 0.0, None)
        shade = settings.albedo * (settings.ambient + (1.0 - settings.ambient) * lambert)
        image = fragments.image(shade).reshape(n, s, n, s).mean(axis=(1, 3))
        images[k] = np.round(np.clip(image, 0.0, 1.0) * 255.0)
    return images


def render_face(
    vertices: np.ndarray,
    triangles: np.ndarray,
    azimuth: float = 0.0,
    elevation: float = 0.0,
    light: float = 0.0,
    width: float = 1.0,
    settings: RenderSettings = RenderSettings(),
) -> np.ndarray:
    """A uint8 grey image [S, S] of the mesh ``vertices`` [V, 3] seen under the given pose and light."""
    return render_lights(vertices, triangles, azimuth, elevation, [light], width, settings)[0]
