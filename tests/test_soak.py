"""A short soak in the test process (the long one is `make soak`, benchmarks/soak.py): a few hundred
frames, some tens of search steps, a few renderers created and released and a few threads that render.
Memory must not grow steadily, threads must not pile up, and the renderer must release every GL object
it lets go of.

Memory is judged by the rise of the lowest resident size sampled in the last quarter of a phase over
that in the second quarter (after malloc_trim; see benchmarks/soak.py): caches fill in the first
quarter, and transient allocations do not raise the lowest sample. Keeping one small picture (160x160,
75 KB) per frame or one 224x224 picture (147 KB, about 220 KB with the allocator's overhead) per search
step or per renderer exceeds each limit 1.7 times or more (measured). A context created and released still
costs 40 to 70 KB: Python objects that moderngl 5.13's create_context keeps.
"""

from __future__ import annotations

import pytest

from benchmarks import soak

FRAMES = 200
STEPS = 40  # four chunks of ten: grad, random, grad, random (the quarters compared are alike)
CHUNK = 10
RENDERERS = 16
SIZES = soak.SIZES[:4]  # four sizes: with the search's tiled batches, within the framebuffer cache

FRAME_LIMIT_KB = 32  # per frame
STEP_LIMIT_KB = 64  # per search step
RENDERER_LIMIT_KB = 128  # per renderer created and released
THREAD_LIMIT_KB = 512  # per thread that rendered and ended


@pytest.fixture(scope="module")
def scenes():
    return soak.load_scenes()


@pytest.fixture
def own_renderer():
    """A renderer of the test's own (a fresh cache, its own context), watched for GL objects dropped."""
    from strike_pose.render.gl import GLRenderer

    renderer = GLRenderer()
    watch = soak.GLWatch(renderer)
    yield renderer, watch
    watch.close()
    renderer.release()
    renderer.ctx.release()


def _no_new_threads(start: dict, end: dict) -> None:
    # At most as many: a thread another test left may end meanwhile, none may be left behind here.
    assert end["python"] <= start["python"], (start, end)
    assert end["os"] <= start["os"], (start, end)


@pytest.mark.long  # 40 s: `make test-long` (and `make soak`, the long soak itself)
def test_frames_and_search_steps_keep_memory_threads_and_gl_objects_flat(own_renderer, classifier, scenes):
    renderer, watch = own_renderer
    soak.warm_up(renderer, classifier, scenes[:1], SIZES)  # the other scenes' caches fill in the first quarter
    threads_start, gl_start = soak.threads(), watch.counts()

    frames = soak.frame_phase(renderer, classifier, scenes, FRAMES, sizes=SIZES, samples=40, watch=watch)
    steps = soak.search_phase(classifier, scenes[:1], STEPS, chunk=CHUNK, samples=STEPS, watch=watch,
                              renderer=renderer)

    assert frames.late_rate_kb() < FRAME_LIMIT_KB, frames.samples
    assert steps.late_rate_kb() < STEP_LIMIT_KB, steps.samples
    _no_new_threads(threads_start, soak.threads())
    gl_end = watch.counts()
    assert gl_end["dropped_unreleased"] == gl_start["dropped_unreleased"], gl_end
    assert gl_end["released"] > gl_start["released"]  # the background textures were evicted, and released
    for cache in ("meshes", "backgrounds", "framebuffers"):
        assert gl_end[cache] <= 8


def test_renderers_created_and_released_leave_nothing_behind(scenes):
    series = soak.renderer_phase(scenes[0], RENDERERS)
    assert series.late_rate_kb() < RENDERER_LIMIT_KB, series.samples
    _no_new_threads(series.threads_start, series.threads_end)


def test_framebuffers_evicted_from_the_cache_are_released(own_renderer, scenes):
    renderer, watch = own_renderer
    for _ in range(2):
        for side in range(160, 260, 8):  # 13 sizes: more framebuffers than the renderer keeps
            renderer.render(scenes[0], size=side)
    counts = watch.counts()
    assert counts["released"] > 0 and counts["framebuffers"] <= 8
    assert counts["dropped_unreleased"] == 0, counts


def test_meshes_evicted_from_the_cache_are_released(own_renderer):
    renderer, watch = own_renderer
    for _ in range(3):  # 9 meshes: more than the renderer keeps
        for scene in soak.load_scenes():
            renderer.render(scene, size=64)
    counts = watch.counts()
    assert counts["released"] > 0 and counts["meshes"] <= 8
    assert counts["dropped_unreleased"] == 0, counts


def test_threads_that_render_leave_nothing_behind(scenes):
    series = soak.thread_phase(scenes[0], 8)
    _no_new_threads(series.threads_start, series.threads_end)
    assert series.late_rate_kb() < THREAD_LIMIT_KB, series.samples
