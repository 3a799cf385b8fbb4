"""The OpenGL renderer (moderngl): the picture the classifier sees, and the visibility buffer.

One renderer works offscreen through EGL (no X server) or inside a window's context (pass `ctx`).
It always draws into its own framebuffer at the requested size and reads the pixels back into
memory (no PNG round trip); a window shows that image scaled up.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.render.common import BoundedCache, background_array, mip_pyramid
from strike_pose.render.transforms import model_matrix, projection
from strike_pose.scene import FAR, NEAR, Light, Pose, Scene

MAX_FRAMEBUFFER = 4096  # the side of the largest framebuffer a batch of tiles is drawn into
GPU_CACHE_LIMIT = 8  # meshes, background textures and framebuffers each renderer keeps on the GPU

# The GLSL sources are package data (strike_pose/render/shaders/), installed with the package.
SHADERS_DIR = Path(str(resources.files("strike_pose.render") / "shaders"))


def _in_own_context(method):
    """Run a GLRenderer method with the renderer's own offscreen context current.

    Several offscreen contexts can live in one thread (a second GLRenderer, an experiment's worker):
    each makes itself current when created, and GL calls go to whichever is current. Working on one
    context's objects while another is current crashes the driver, so a renderer that owns its
    context makes it current for each call and restores the previous one after."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.ctx if self.owns_context else contextlib.nullcontext():
            return method(self, *args, **kwargs)
    return wrapper


def _shader(name: str) -> str:
    return (SHADERS_DIR / name).read_text()


def load_llvm_users_first() -> None:
    """Import triton (torch's compiler, when installed) before any GL context exists.

    triton and Mesa's llvmpipe each bring an LLVM; importing triton after llvmpipe has loaded
    crashes the process (seen with torch 2.14 and Mesa 22.3), while the other order works.
    """
    try:
        import triton  # noqa: F401
    except Exception:
        pass


def create_offscreen_context():
    """A headless OpenGL 3.3+ context through EGL."""
    import moderngl

    load_llvm_users_first()

    try:
        return moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as exc:
        raise StrikePoseError(
            f"could not create an offscreen OpenGL context through EGL ({exc}); install the system GL "
            "libraries: apt-get install libegl1 libegl-mesa0 libgl1 libglx-mesa0 libgl1-mesa-dri"
        ) from exc


def image_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(width, height) of a size given as one side or a pair, checked; both renderers use it."""
    width, height = (size, size) if isinstance(size, int) else size
    if not (1 <= width <= 8192 and 1 <= height <= 8192):
        raise StrikePoseError(f"image size must be between 1 and 8192 pixels, got {width}x{height}")
    return int(width), int(height)


@dataclass(frozen=True)
class TileGrid:
    """`count` images of width x height side by side in one framebuffer, in rows of `columns`.

    Tiles start at even pixel offsets, so each tile's 2x2 pixel quads (where the GPU takes the
    derivatives that choose a texture's mip level) line up as they do in a framebuffer of its own.
    """

    count: int
    columns: int
    tile_width: int
    tile_height: int

    @staticmethod
    def pitch(side: int) -> int:
        return side + side % 2

    @classmethod
    def capacity(cls, width: int, height: int, limit: int) -> int:
        return max(1, limit // cls.pitch(width)) * max(1, limit // cls.pitch(height))

    @classmethod
    def of(cls, count: int, width: int, height: int) -> "TileGrid":
        columns = max(1, min(count, math.ceil(math.sqrt(count * height / width))))
        return cls(count, columns, width, height)

    @property
    def rows(self) -> int:
        return -(-self.count // self.columns)

    @property
    def width(self) -> int:
        return self.columns * self.pitch(self.tile_width)

    @property
    def height(self) -> int:
        return self.rows * self.pitch(self.tile_height)

    def viewport(self, i: int) -> tuple[int, int, int, int]:
        """(x, y, width, height) of tile i in OpenGL's bottom-up window coordinates."""
        row, column = divmod(i, self.columns)
        return (column * self.pitch(self.tile_width), row * self.pitch(self.tile_height),
                self.tile_width, self.tile_height)

    def split(self, framebuffer: np.ndarray, out: np.ndarray) -> None:
        """Copy each tile of a read-back framebuffer (bottom row first) into out[i], top row first."""
        for i in range(self.count):
            x, y, w, h = self.viewport(i)
            out[i] = framebuffer[y:y + h, x:x + w][::-1]


@dataclass
class _GpuMesh:
    vao_color: object
    vao_visibility: object
    texture: object
    buffers: tuple = ()  # the vertex and index buffers the vertex arrays read


class GLRenderer:
    """Renders scenes at poses; resources are uploaded once per mesh, background and size."""

    def __init__(self, ctx=None):
        self.owns_context = ctx is None  # else the caller's (a window's), current while it draws
        self.ctx = ctx if ctx is not None else create_offscreen_context()
        self.max_samples = int(self.ctx.info.get("GL_MAX_SAMPLES", 0) or 0)
        viewport_limit = self.ctx.info.get("GL_MAX_VIEWPORT_DIMS") or (MAX_FRAMEBUFFER, MAX_FRAMEBUFFER)
        self.max_framebuffer = int(min(MAX_FRAMEBUFFER, *viewport_limit,
                                       self.ctx.info.get("GL_MAX_RENDERBUFFER_SIZE") or MAX_FRAMEBUFFER))
        self._mesh_program = self.ctx.program(vertex_shader=_shader("mesh.vert"),
                                              fragment_shader=_shader("mesh.frag"))
        self._visibility_program = self.ctx.program(vertex_shader=_shader("mesh.vert"),
                                                    fragment_shader=_shader("visibility.frag"))
        self._background_program = self.ctx.program(vertex_shader=_shader("background.vert"),
                                                    fragment_shader=_shader("background.frag"))
        self._background_vao = self.ctx.vertex_array(self._background_program, [])
        self._meshes = BoundedCache(GPU_CACHE_LIMIT, release=self._release)
        self._backgrounds = BoundedCache(GPU_CACHE_LIMIT, release=lambda texture: texture.release())
        self._targets = BoundedCache(GPU_CACHE_LIMIT, release=self._release_target)

    def cache_sizes(self) -> dict[str, int]:
        """How many meshes, background textures and framebuffers this renderer holds on the GPU now
        (each at most GPU_CACHE_LIMIT)."""
        return {"meshes": len(self._meshes), "backgrounds": len(self._backgrounds), "framebuffers": len(self._targets)}

    # -------------------------------------------------------------------------------- resources

    def _gpu_mesh(self, mesh) -> _GpuMesh:
        return self._meshes.get(id(mesh), lambda: self._upload_mesh(mesh), keep=mesh)

    def _upload_mesh(self, mesh) -> _GpuMesh:
        ctx = self.ctx
        vertices = np.hstack([mesh.positions, mesh.normals, mesh.uvs]).astype("f4")
        vbo = ctx.buffer(vertices.tobytes())
        ibo = ctx.buffer(mesh.faces.astype("i4").tobytes())
        layout = [(vbo, "3f 3f 2f", "in_position", "in_normal", "in_uv")]
        vao_color = ctx.vertex_array(self._mesh_program, layout, index_buffer=ibo)
        vis_layout = [(vbo, "3f 20x", "in_position")]
        vao_visibility = ctx.vertex_array(self._visibility_program, vis_layout, index_buffer=ibo)
        levels = mip_pyramid(mesh.texture)
        h, w = levels[0].shape[:2]
        texture = ctx.texture((w, h), 3, levels[0].tobytes(), alignment=1)
        texture.build_mipmaps()  # allocates every level; overwritten with our own pyramid below
        for i, level in enumerate(levels[1:], start=1):
            texture.write(level.tobytes(), level=i, alignment=1)
        import moderngl

        texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        texture.anisotropy = 1.0  # llvmpipe's anisotropic filter cannot be matched by the twin
        texture.repeat_x = texture.repeat_y = True
        return _GpuMesh(vao_color, vao_visibility, texture, (vbo, ibo))

    @staticmethod
    def _release(gpu: _GpuMesh) -> None:
        for obj in (gpu.vao_color, gpu.vao_visibility, gpu.texture, *gpu.buffers):
            obj.release()

    def _background_texture(self, scene: Scene, width: int, height: int):
        array = background_array(scene, width, height)
        return self._backgrounds.get(
            id(array), lambda: self.ctx.texture((width, height), 3, array.tobytes(), alignment=1), keep=array)

    def _target(self, kind: str, width: int, height: int, samples: int):
        """(framebuffer, resolve framebuffer or None) of a kind ("color" or "visibility") and size."""
        return self._targets.get((kind, width, height, samples), lambda: self._new_target(kind, width, height, samples))

    def _new_target(self, kind: str, width: int, height: int, samples: int):
        ctx = self.ctx
        if kind == "visibility":
            color = ctx.texture((width, height), 2, dtype="f4")
            return ctx.framebuffer([color], ctx.depth_renderbuffer((width, height))), None
        color = ctx.renderbuffer((width, height), 4, samples=samples)
        fbo = ctx.framebuffer([color], ctx.depth_renderbuffer((width, height), samples=samples))
        resolve = ctx.framebuffer([ctx.renderbuffer((width, height), 4)]) if samples else None
        return fbo, resolve

    @staticmethod
    def _release_target(target) -> None:
        """Release framebuffers together with their attachments (a framebuffer does not own them)."""
        for fbo in target:
            if fbo is None:
                continue
            for attachment in (*fbo.color_attachments, fbo.depth_attachment):
                if attachment is not None:
                    attachment.release()
            fbo.release()

    # --------------------------------------------------------------------------------- drawing

    def render(self, scene: Scene, pose: Pose | tuple | None = None, size: int | tuple[int, int] = 224,
               msaa: int = 0) -> np.ndarray:
        """The image of `scene` at `pose` (default: the scene's start pose), (H, W, 3) uint8. To show it
        without its background or texture, render `scene.as_shown(...)`."""
        pose = scene.pose if pose is None else pose
        return self.render_batch(scene, [pose], size, msaa)[0]

    @_in_own_context
    def render_batch(self, scene: Scene, poses, size: int | tuple[int, int] = 224, msaa: int = 0,
                     lights: list[Light] | None = None) -> np.ndarray:
        """The images of `scene` at each of `poses` (Poses or rows of six numbers), (N, H, W, 3) uint8.

        The poses are drawn side by side as tiles of one framebuffer and read back at once, so a
        batch costs one readback however many poses it holds. `lights` (one per pose) replaces the
        scene's light pose by pose.
        """
        import moderngl

        poses = [Pose.of(p) for p in poses]
        width, height = image_size(size)
        samples = min(int(msaa), self.max_samples) if msaa else 0
        out = np.empty((len(poses), height, width, 3), np.uint8)
        gpu = self._gpu_mesh(scene.mesh)
        ctx = self.ctx
        for first, grid in self._tile_batches(len(poses), width, height):
            fbo, resolve = self._target("color", grid.width, grid.height, samples)
            fbo.use()
            ctx.viewport = (0, 0, grid.width, grid.height)
            fbo.clear(depth=1.0)
            ctx.disable(moderngl.DEPTH_TEST)
            self._background_texture(scene, width, height).use(0)
            self._background_program["background"].value = 0
            for i in range(grid.count):
                ctx.viewport = grid.viewport(i)
                self._background_program["origin"].value = grid.viewport(i)[:2]
                self._background_vao.render(moderngl.TRIANGLES, vertices=3)
            program = self._mesh_program
            program["projection"].write(self._projection(scene, width, height))
            program["specular"].value = scene.light.specular
            program["shininess"].value = scene.light.shininess
            gpu.texture.use(0)
            program["albedo"].value = 0
            ctx.enable(moderngl.DEPTH_TEST)
            ctx.disable(moderngl.CULL_FACE)
            for i in range(grid.count):
                light = lights[first + i] if lights is not None else scene.light
                program["light_direction"].value = tuple(light.unit_direction())
                program["ambient"].value = light.ambient
                program["diffuse"].value = light.diffuse
                program["model"].write(model_matrix(poses[first + i]).T.astype("f4").tobytes())
                ctx.viewport = grid.viewport(i)
                gpu.vao_color.render(moderngl.TRIANGLES)
            if resolve is not None:
                ctx.copy_framebuffer(resolve, fbo)
                fbo = resolve
            data = fbo.read(viewport=(0, 0, grid.width, grid.height), components=3, alignment=1)
            grid.split(np.frombuffer(data, np.uint8).reshape(grid.height, grid.width, 3), out[first:first + grid.count])
        return out

    def render_visibility(self, scene: Scene, pose: Pose | tuple | None = None,
                          size: int | tuple[int, int] = 224) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel: the covering triangle's index + 1 (0 = background), int64 (H, W), and its
        distance along -z (0 for background), float32 (H, W). Row 0 is the top of the image."""
        ids, depth = self.render_visibility_batch(scene, [scene.pose if pose is None else pose], size)
        return ids[0], depth[0]

    @_in_own_context
    def render_visibility_batch(self, scene: Scene, poses, size: int | tuple[int, int] = 224
                                ) -> tuple[np.ndarray, np.ndarray]:
        """The visibility buffers of `scene` at each of `poses`: ids (N, H, W) int64 and depths
        (N, H, W) float32, drawn as tiles of one framebuffer and read back at once."""
        import moderngl

        poses = [Pose.of(p) for p in poses]
        width, height = image_size(size)
        ids = np.empty((len(poses), height, width), np.int64)
        depth = np.empty((len(poses), height, width), np.float32)
        gpu = self._gpu_mesh(scene.mesh)
        ctx = self.ctx
        program = self._visibility_program
        for first, grid in self._tile_batches(len(poses), width, height):
            fbo, _ = self._target("visibility", grid.width, grid.height, 0)
            fbo.use()
            ctx.viewport = (0, 0, grid.width, grid.height)
            fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            program["projection"].write(self._projection(scene, width, height))
            ctx.enable(moderngl.DEPTH_TEST)
            ctx.disable(moderngl.CULL_FACE)
            for i in range(grid.count):
                program["model"].write(model_matrix(poses[first + i]).T.astype("f4").tobytes())
                ctx.viewport = grid.viewport(i)
                gpu.vao_visibility.render(moderngl.TRIANGLES)
            data = fbo.read(viewport=(0, 0, grid.width, grid.height), components=2, dtype="f4", alignment=1)
            tiles = np.empty((grid.count, height, width, 2), np.float32)
            grid.split(np.frombuffer(data, np.float32).reshape(grid.height, grid.width, 2), tiles)
            ids[first:first + grid.count] = tiles[..., 0]
            depth[first:first + grid.count] = tiles[..., 1]
        return ids, depth

    @staticmethod
    def _projection(scene: Scene, width: int, height: int) -> bytes:
        return projection(scene.camera.fov_y, width / height, NEAR, FAR).T.astype("f4").tobytes()

    def _tile_batches(self, count: int, width: int, height: int):
        """(index of the first pose, TileGrid) for each framebuffer-full of tiles."""
        capacity = TileGrid.capacity(width, height, self.max_framebuffer)
        first = 0
        while first < count:
            n = min(capacity, count - first)
            yield first, TileGrid.of(n, width, height)
            first += n

    @_in_own_context
    def release(self) -> None:
        """Release every GPU object this renderer holds (not its context)."""
        for cache in (self._meshes, self._backgrounds, self._targets):
            cache.clear()
