"""The differentiable twin of the OpenGL renderer (torch), after nvdiffrast's design.

OpenGL's visibility buffer decides which triangle covers each pixel (no gradient). For the covered
pixels torch recomputes perspective-correct barycentrics from the projected vertices of that
triangle, then interpolates uv and normals, samples the texture with the same trilinear mipmap
filter as the GPU, lights and composites over the background, so everything after visibility carries
exact gradients to the pose and the light. Silhouettes get an explicit antialiasing step: where two
neighbouring pixels see different surfaces, their colours are blended by where the silhouette edge
crosses the segment between the two pixel centres; the crossing point moves with the vertices, so
the gradient moves the outline too.

Equations (the GLSL shaders implement the same, see docs/RENDERING.md):
    v_cam = R(yaw, pitch, roll) v + (x, y, z);  clip = P v_cam;  pixel centres at (j + .5, i + .5)
    colour = albedo(uv) * (ambient + diffuse * max(0, n.l)) + specular * max(0, n.h)^shininess
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from strike_pose.render.common import BoundedCache, background_array, mip_pyramid
from strike_pose.render.transforms import pose_rotation_translation, projection
from strike_pose.scene import FAR, NEAR, Scene

WALK_STEPS = 4  # triangles walked from a silhouette pixel to the real silhouette edge
TENSOR_CACHE_LIMIT = 8  # meshes (and backgrounds) whose topology and tensors are kept, per device and dtype


# ------------------------------------------------------------------------------- per-mesh data

@dataclass(frozen=True)
class MeshTopology:
    """Per face and edge k (opposite vertex k): the face across that edge, -1 on an open border."""

    neighbours: np.ndarray  # (F, 3) int64


_topologies = BoundedCache(TENSOR_CACHE_LIMIT)


def mesh_topology(mesh) -> MeshTopology:
    """Edge adjacency on vertices welded by position (UV seams and flat normals split vertices)."""
    return _topologies.get(id(mesh), lambda: _topology(mesh), keep=mesh)


def _topology(mesh) -> MeshTopology:
    _, welded = np.unique(np.round(mesh.positions.astype(np.float64), 6), axis=0, return_inverse=True)
    faces = welded.reshape(-1)[mesh.faces]  # (F, 3) welded vertex ids
    f_count = len(faces)
    # Edge k of a face joins vertices (k+1, k+2): the edge opposite vertex k.
    a = faces[:, [1, 2, 0]].reshape(-1)
    b = faces[:, [2, 0, 1]].reshape(-1)
    key = np.minimum(a, b).astype(np.int64) * (int(faces.max()) + 1) + np.maximum(a, b)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    neighbours = np.full(f_count * 3, -1, dtype=np.int64)
    same_next = sorted_key[:-1] == sorted_key[1:]
    # An edge shared by exactly two faces: not also equal to the one before or after the pair.
    prev_same = np.concatenate([[False], same_next[:-1]])
    next_same = np.concatenate([same_next[1:], [False]])
    pair = same_next & ~prev_same & ~next_same
    first, second = order[:-1][pair], order[1:][pair]
    neighbours[first] = second // 3
    neighbours[second] = first // 3
    return MeshTopology(neighbours.reshape(f_count, 3))


@dataclass
class _MeshTensors:
    positions: torch.Tensor
    normals: torch.Tensor
    uvs: torch.Tensor
    faces: torch.Tensor
    neighbours: torch.Tensor
    texels: torch.Tensor  # all mip levels, flattened one after the other, (N, 3) float in [0, 1]
    level_offset: torch.Tensor  # (L,) int64
    level_width: torch.Tensor  # (L,) int64
    level_height: torch.Tensor  # (L,) int64


_tensors = BoundedCache(TENSOR_CACHE_LIMIT)


def _mesh_tensors(mesh, device, dtype) -> _MeshTensors:
    return _tensors.get((id(mesh), str(device), dtype), lambda: _new_mesh_tensors(mesh, device, dtype), keep=mesh)


def _new_mesh_tensors(mesh, device, dtype) -> _MeshTensors:
    levels = mip_pyramid(mesh.texture)
    sizes = [lv.shape[:2] for lv in levels]
    offsets = np.cumsum([0] + [h * w for h, w in sizes])[:-1]
    texels = np.concatenate([lv.reshape(-1, 3) for lv in levels]).astype(np.float32) / 255.0

    def t(array, kind=dtype):
        return torch.as_tensor(np.asarray(array), device=device).to(kind)

    return _MeshTensors(
        positions=t(mesh.positions), normals=t(mesh.normals), uvs=t(mesh.uvs),
        faces=t(mesh.faces, torch.int64), neighbours=t(mesh_topology(mesh).neighbours, torch.int64),
        texels=t(texels), level_offset=t(offsets, torch.int64),
        level_width=t([w for _, w in sizes], torch.int64), level_height=t([h for h, _ in sizes], torch.int64),
    )


# ------------------------------------------------------------------------------- the pieces

def _project(m: _MeshTensors, poses: torch.Tensor, fov_y: float, width: int, height: int):
    """For a batch of poses (N, 6): camera-space positions and normals (N * V, 3), screen positions
    (N * V, 2) in pixels with y down, and clip w (N * V,); vertex v of pose n is row n * V + v."""
    r, t = pose_rotation_translation(poses)
    cam = torch.einsum("vj,nij->nvi", m.positions, r) + t[:, None, :]
    normals = torch.einsum("vj,nij->nvi", m.normals, r)
    proj = projection(fov_y, width / height, NEAR, FAR)
    clip_xy = cam[..., :2] * cam.new_tensor([proj[0, 0], proj[1, 1]])
    w = -cam[..., 2]
    ndc = clip_xy / w[..., None]
    screen = torch.stack([(ndc[..., 0] + 1) * (width / 2), (1 - ndc[..., 1]) * (height / 2)], dim=-1)
    return cam.reshape(-1, 3), normals.reshape(-1, 3), screen.reshape(-1, 2), w.reshape(-1)


@dataclass(frozen=True)
class _Batch:
    """The mesh's faces and adjacency repeated for N poses: face n * F + f has vertices v + n * V."""

    faces: torch.Tensor  # (N * F, 3) into the (N * V) projected vertices
    neighbours: torch.Tensor  # (N * F, 3), -1 on an open border


def _batch(m: _MeshTensors, n: int) -> _Batch:
    f_count, v_count = len(m.faces), len(m.positions)
    offsets = torch.arange(n, device=m.faces.device)[:, None, None]
    faces = (m.faces[None] + offsets * v_count).reshape(-1, 3)
    neighbours = torch.where(m.neighbours[None] >= 0, m.neighbours[None] + offsets * f_count,
                             m.neighbours[None]).reshape(-1, 3)
    return _Batch(faces, neighbours)


def _barycentrics(tri_screen: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Screen-space barycentrics (N, 3) of points q (N, 2) in triangles (N, 3, 2)."""
    a, b, c = tri_screen[:, 0], tri_screen[:, 1], tri_screen[:, 2]

    def cross(u, v):
        return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]

    area = cross(b - a, c - a)
    area = torch.where(area.abs() < 1e-12, torch.full_like(area, 1e-12), area)
    l0 = cross(b - q, c - q) / area
    l1 = cross(c - q, a - q) / area
    return torch.stack([l0, l1, 1 - l0 - l1], dim=1)


def _perspective(bary: torch.Tensor, tri_w: torch.Tensor) -> torch.Tensor:
    weights = bary / tri_w
    return weights / weights.sum(dim=1, keepdim=True)


def _sample_level(m: _MeshTensors, level: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear, repeat-wrapped texture lookup at integer mip `level` (N,) for uv (N, 2)."""
    w, h, off = m.level_width[level], m.level_height[level], m.level_offset[level]
    x = uv[:, 0] * w - 0.5
    y = uv[:, 1] * h - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    xs = (torch.remainder(x0, w), torch.remainder(x0 + 1, w))
    ys = (torch.remainder(y0, h), torch.remainder(y0 + 1, h))

    def texel(ix, iy):
        return m.texels[off + iy * w + ix]

    top = texel(xs[0], ys[0]) * (1 - fx) + texel(xs[1], ys[0]) * fx
    bottom = texel(xs[0], ys[1]) * (1 - fx) + texel(xs[1], ys[1]) * fx
    return top * (1 - fy) + bottom * fy


def _sample_trilinear(m: _MeshTensors, uv: torch.Tensor, lod: torch.Tensor) -> torch.Tensor:
    """Trilinear mipmapped lookup, as GL_LINEAR_MIPMAP_LINEAR without anisotropy."""
    top = len(m.level_width) - 1
    lod = lod.clamp(0, top)
    base = torch.floor(lod).long().clamp(max=max(top - 1, 0))
    frac = (lod - base.to(lod.dtype)).clamp(0, 1)[:, None].to(uv.dtype)
    lower = _sample_level(m, base, uv)
    if top == 0:
        return lower
    upper = _sample_level(m, base + 1, uv)
    return lower * (1 - frac) + upper * frac


def _lod(m: _MeshTensors, tri_screen, tri_w, tri_uv, rows, cols, height) -> torch.Tensor:
    """Level of detail per pixel, from uv differences across its 2x2 quad (as the GPU does).

    GL's quads are aligned in its bottom-up window coordinates; the derivatives come from the pixel's
    own triangle evaluated at the quad's pixel centres. No gradient flows through the level choice.
    """
    with torch.no_grad():
        gl_row = (height - 1) - rows
        quad_col = cols - cols % 2
        quad_gl_row = gl_row - gl_row % 2
        base_row = (height - 1) - quad_gl_row  # image row of the quad's lower-left pixel
        dtype = tri_screen.dtype

        def uv_at(col, row):
            q = torch.stack([col.to(dtype) + 0.5, row.to(dtype) + 0.5], dim=1)
            bary = _perspective(_barycentrics(tri_screen, q), tri_w)
            return (bary[:, :, None] * tri_uv).sum(dim=1)

        origin = uv_at(quad_col, base_row)
        ddx = uv_at(quad_col + 1, base_row) - origin
        ddy = uv_at(quad_col, base_row - 1) - origin
        level0 = torch.stack([m.level_width[0], m.level_height[0]]).to(dtype)
        rho2 = torch.maximum(((ddx * level0) ** 2).sum(1), ((ddy * level0) ** 2).sum(1))
        return 0.5 * torch.log2(rho2.clamp_min(1e-20))


def _shade(albedo, normal, position, light) -> torch.Tensor:
    """Per pixel (P rows); the light's ambient and diffuse are (P,) and its direction (P, 3)."""
    ambient, diffuse, direction, specular, shininess = light
    n = normal / normal.norm(dim=1, keepdim=True).clamp_min(1e-12)
    l = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    colour = albedo * (ambient + diffuse * (n * l).sum(1).clamp_min(0))[:, None]
    if float(specular) > 0:
        v = -position / position.norm(dim=1, keepdim=True).clamp_min(1e-12)
        h = l + v
        h = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
        colour = colour + specular * ((n * h).sum(1).clamp_min(0) ** shininess)[:, None]
    return colour.clamp(0, 1)


# ---------------------------------------------------------------------------------- antialiasing

def _antialias(image, ids, depth, batch: _Batch, screen, facing):
    """Blend colours across silhouette edges found between neighbouring pixel centres.

    For each pair of neighbouring pixels that see different triangles, start in the triangle of one
    side and follow the segment to the other pixel's centre: leave the triangle through the edge the
    segment crosses; an edge between a front- and a back-facing triangle (or an open border) is a
    silhouette, otherwise step into the neighbour (up to WALK_STEPS triangles). Each edge is handled
    by horizontal pairs when it is steeper than 45 degrees and by vertical pairs otherwise. Where the
    silhouette crosses the segment at s (0 = this pixel's centre, 1 = the other's), the pixel whose
    side the crossing lies on is blended towards the other by |s - 1/2| (nvdiffrast's rule).

    image (N, H, W, 3); ids (N, H, W) hold batch triangle ids + 1 (face n * F + f for pose n).
    """
    count, height, width = ids.shape
    ids_flat = ids.reshape(-1)
    src, dst, horizontal = [], [], []
    pairs = ((ids[:, :, :-1], ids[:, :, 1:], 1), (ids[:, :-1, :], ids[:, 1:, :], width))
    for axis, (a_ids, b_ids, offset) in enumerate(pairs):
        n, rows, cols = torch.nonzero(a_ids != b_ids, as_tuple=True)
        a_pix = (n * height + rows) * width + cols
        b_pix = a_pix + offset
        src += [a_pix, b_pix]
        dst += [b_pix, a_pix]
        horizontal += [torch.full_like(a_pix, axis == 0, dtype=torch.bool)] * 2
    src, dst, horizontal = torch.cat(src), torch.cat(dst), torch.cat(horizontal)
    src_tri = ids_flat[src] - 1
    keep = src_tri >= 0
    src, dst, horizontal, src_tri = src[keep], dst[keep], horizontal[keep], src_tri[keep]
    if len(src) == 0:
        return image

    def centre(pix):
        return torch.stack([(pix % width).to(screen.dtype) + 0.5, (pix // width % height).to(screen.dtype) + 0.5], 1)

    q_src, q_dst = centre(src), centre(dst)
    found, tri, edge = _walk(src_tri, q_src, q_dst, batch, screen.detach(), facing, horizontal)
    if not bool(found.any()):
        return image
    src, dst, tri, edge = src[found], dst[found], tri[found], edge[found]
    q_src, q_dst = q_src[found], q_dst[found]
    # Where the silhouette crosses the segment, with gradient: the edge's barycentric coordinate is
    # affine along the segment, so s = l(src) / (l(src) - l(dst)).
    corners = screen[batch.faces[tri]]
    l_src = _barycentrics(corners, q_src).gather(1, edge[:, None])[:, 0]
    l_dst = _barycentrics(corners, q_dst).gather(1, edge[:, None])[:, 0]
    s = (l_src / (l_src - l_dst)).clamp(0, 1)

    # A pair claimed from both sides (two silhouettes between the centres): the nearer surface wins.
    near = depth.reshape(-1)[src]
    pair_key = torch.minimum(src, dst) * ids_flat.numel() + torch.maximum(src, dst)
    order = torch.argsort(near)
    _, inverse = torch.unique(pair_key[order], return_inverse=True)
    winner = torch.full((int(inverse.max()) + 1,), len(order), dtype=torch.long, device=src.device)
    winner.scatter_reduce_(0, inverse, torch.arange(len(order), device=src.device), reduce="amin")
    chosen = order[winner]
    src, dst, s = src[chosen], dst[chosen], s[chosen]

    flat = image.reshape(-1, 3)
    c_src, c_dst = flat[src], flat[dst]
    outward = s > 0.5  # the silhouette lies on the other pixel's side: it is partly covered by src
    weight = (s - 0.5).abs()[:, None]
    target = torch.where(outward, dst, src)
    delta = torch.where(outward[:, None], c_src - c_dst, c_dst - c_src) * weight
    return flat.index_add(0, target, delta).reshape(image.shape)


@torch.no_grad()
def _walk(tri, q_src, q_dst, batch: _Batch, screen, facing, horizontal):
    """From triangle `tri` at q_src towards q_dst: (found, triangle, edge) of the silhouette crossing."""
    tri = tri.clone()
    count = len(tri)
    found = torch.zeros(count, dtype=torch.bool, device=tri.device)
    edge_out = torch.zeros(count, dtype=torch.long, device=tri.device)
    active = torch.arange(count, device=tri.device)
    for _ in range(WALK_STEPS):
        if len(active) == 0:
            break
        t = tri[active]
        corners = screen[batch.faces[t]]  # (N, 3, 2)
        l_src = _barycentrics(corners, q_src[active])
        l_dst = _barycentrics(corners, q_dst[active])
        leaving = (l_src >= -1e-7) & (l_dst < 0)
        s_edge = torch.where(leaving, l_src / (l_src - l_dst).where(leaving, torch.ones_like(l_src)),
                             torch.full_like(l_src, 2.0))
        s_min, edge = s_edge.min(dim=1)
        exits = s_min <= 1.0
        neighbour = batch.neighbours[t, edge]
        silhouette = exits & ((neighbour < 0) | (facing[neighbour.clamp_min(0)] != facing[t]))
        # The edge's screen direction decides which pairs handle it.
        d = screen[batch.faces[t, (edge + 2) % 3]] - screen[batch.faces[t, (edge + 1) % 3]]
        steep = d[:, 1].abs() > d[:, 0].abs()
        take = silhouette & (steep == horizontal[active])
        found[active[take]] = True
        edge_out[active[take]] = edge[take]
        # Walk on across interior edges; stop at any silhouette, or where the segment stays inside.
        onward = exits & ~silhouette
        tri[active[onward]] = neighbour[onward]
        active = active[onward]
    return found, tri, edge_out


# ------------------------------------------------------------------------------------ the render

def light_tensor(scene: Scene, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """The scene's light as a tensor (ambient, diffuse, dx, dy, dz), to optimise the light too."""
    light = scene.light
    return torch.tensor([light.ambient, light.diffuse, *light.unit_direction()], dtype=dtype, device=device)


_backgrounds = BoundedCache(TENSOR_CACHE_LIMIT)


def _background(scene: Scene, width: int, height: int, device, dtype) -> torch.Tensor:
    """The background as an (H, W, 3) tensor in [0, 1], converted once per image, size and device."""
    array = background_array(scene, width, height)
    return _backgrounds.get((id(array), str(device), dtype),
                            lambda: torch.as_tensor(array, device=device).to(dtype) / 255.0, keep=array)


def render_differentiable(scene: Scene, pose: torch.Tensor, size: int | tuple[int, int] | None = None,
                          light: torch.Tensor | None = None, antialias: bool = True,
                          renderer=None, visibility=None) -> torch.Tensor:
    """The picture of `scene` at `pose`, float in [0, 1], differentiable w.r.t. `pose` (yaw, pitch,
    roll in degrees, x, y, z) and `light` (ambient, diffuse, direction x, y, z).

    One pose (6,) gives one picture (H, W, 3); a batch of poses (N, 6) gives (N, H, W, 3) in one
    pass, with `light` shared (5,) or one per pose (N, 5). Visibility comes from OpenGL at the poses'
    current values, all in one tiled pass (`renderer`: default this thread's); `visibility` may pass
    the (ids, depth) arrays already rendered at those poses and this size.
    """
    from strike_pose.render import default_renderer
    from strike_pose.render.gl import image_size

    single = pose.dim() == 1
    poses = pose[None] if single else pose
    if poses.dim() != 2 or poses.shape[1] != 6:
        raise ValueError(f"poses must be (6,) or (N, 6), got {tuple(pose.shape)}")
    count = len(poses)
    width, height = image_size(size or 224)
    dtype, device = poses.dtype, poses.device
    if visibility is None:
        renderer = renderer or default_renderer()
        visibility = renderer.render_visibility_batch(scene, poses.detach().cpu().numpy(), size=(width, height))
    ids = torch.as_tensor(np.asarray(visibility[0]), device=device).reshape(count, height, width)
    depth = torch.as_tensor(np.asarray(visibility[1]), device=device).reshape(count, height, width)
    m = _mesh_tensors(scene.mesh, device, dtype)
    f_count = len(m.faces)
    batch = _batch(m, count)
    cam, normals, screen, w = _project(m, poses, scene.camera.fov_y, width, height)
    if light is None:
        light = light_tensor(scene, dtype, device)

    background = _background(scene, width, height, device, dtype)
    image = background.expand(count, height, width, 3).reshape(-1, 3)
    local = ids.reshape(-1)
    covered = torch.nonzero(local > 0, as_tuple=True)[0]
    if len(covered):
        pose_of = covered // (height * width)
        pixel = covered % (height * width)
        rows, cols = pixel // width, pixel % width
        tri = local[covered] - 1 + pose_of * f_count  # batch face ids
        faces = batch.faces[tri]  # (P, 3) into the batch's vertices
        tri_screen, tri_w = screen[faces], w[faces]
        q = torch.stack([cols.to(dtype) + 0.5, rows.to(dtype) + 0.5], dim=1)
        bary = _perspective(_barycentrics(tri_screen, q), tri_w)

        def interpolate(attr):
            return (bary[:, :, None] * attr[faces]).sum(dim=1)

        tri_uv = m.uvs[m.faces[local[covered] - 1]]
        uv = (bary[:, :, None] * tri_uv).sum(dim=1)
        lod = _lod(m, tri_screen, tri_w, tri_uv, rows, cols, height)
        albedo = _sample_trilinear(m, uv, lod)
        # Two-sided lighting, as the fragment shader: flip normals of back-facing triangles.
        facing = _signed_area(screen, batch.faces) < 0  # > 0: counter-clockwise on screen (y down) = back
        normal = interpolate(normals)
        normal = torch.where(facing[tri][:, None], normal, -normal)
        per_pose = light if light.dim() == 2 else light[None].expand(count, 5)
        light_terms = (per_pose[pose_of, 0], per_pose[pose_of, 1], per_pose[pose_of, 2:5],
                       scene.light.specular, scene.light.shininess)
        colour = _shade(albedo, normal, interpolate(cam), light_terms)
        image = image.index_copy(0, covered, colour)
    image = image.reshape(count, height, width, 3)
    if antialias and len(covered):
        batch_ids = torch.where(ids > 0, ids + torch.arange(count, device=device)[:, None, None] * f_count, ids)
        image = _antialias(image, batch_ids, depth, batch, screen, facing)
    return image[0] if single else image


def _signed_area(screen: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        a, b, c = screen[faces[:, 0]], screen[faces[:, 1]], screen[faces[:, 2]]
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


@dataclass(frozen=True)
class TwinGradients:
    """What `twin_gradients` returns: per pose, the loss and its gradient."""

    losses: np.ndarray  # (N,)
    pose_grads: np.ndarray  # (N, 6): per degree for the angles, per scene unit for x, y, z
    light_grads: np.ndarray | None  # (N, 5) when lights were given
    aux: object  # whatever the loss function returned beside the losses


def twin_gradients(scene: Scene, poses, image_loss, lights=None, size: int | tuple[int, int] | None = None,
                   renderer=None, device=None) -> TwinGradients:
    """Losses of the twin's pictures at a batch of poses, and their gradients, in one pass.

    image_loss(images (N, H, W, 3) float in [0, 1]) -> (losses (N,), aux) must treat the images
    independently (as a classifier in eval mode does), so that the gradient of the summed loss gives
    each pose its own gradient. `lights` (N, 5) (ambient, diffuse, direction) are optimised too.
    """
    device = torch.device(device or "cpu")
    p = torch.as_tensor(np.asarray(poses, np.float64), dtype=torch.float32, device=device).reshape(-1, 6)
    p.requires_grad_(True)
    inputs = [p]
    light = None
    if lights is not None:
        light = torch.as_tensor(np.asarray(lights, np.float64), dtype=torch.float32, device=device).reshape(-1, 5)
        light.requires_grad_(True)
        inputs.append(light)
    images = render_differentiable(scene, p, size=size, light=light, renderer=renderer)
    losses, aux = image_loss(images)
    grads = torch.autograd.grad(losses.sum(), inputs)
    return TwinGradients(losses.detach().cpu().double().numpy(), grads[0].cpu().double().numpy(),
                         grads[1].cpu().double().numpy() if lights is not None else None, aux)
