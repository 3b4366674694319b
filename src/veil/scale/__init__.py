"""The Ray front end: a batch's files on a Ray cluster (or a Ray runtime started here), run by
actors that hold their loaded models, with the outputs, reports and fail-closed rules of the
local path (veil.jobs runs every file, there and here).

- runtime.py: connecting to the cluster (or starting one here), one-line errors.
- worker.py: the actor: a whole file, or a span of one video's detection.
- pool.py: the driver: files and spans shared out to actors, faults retried elsewhere.

Faults. A file that fails for its own reasons (damaged, refused, over a limit) is reported
once and never retried. An actor lost with its worker process or its node fails no file:
its task goes back to the queue and another actor takes it, at most MAX_ATTEMPTS times (a
file that kills whatever reads it is not retried for ever); a new actor takes the lost one's
place when the cluster has room; the run's report lists every retry. Outputs are written
atomically (veil.media.files), so a lost attempt leaves at most a `.veil-*.part` file beside
its output, removed when the run ends; a retried file is written once, complete.

Videos: with more than one actor, a video's detection pass is split into spans that start
on keyframes of the schedule (veil.detect_video_span), run on different actors and are
joined into the plan the local path makes (the same boxes in every frame, so tracks link
across every seam as within a span); one actor then renders and encodes the whole video.

Every node needs the same veil installed and must see the inputs and outputs at the same
paths (a shared file system).
"""

from .pool import MAX_ATTEMPTS, RayPool
from .runtime import ray_runtime

__all__ = ["MAX_ATTEMPTS", "RayPool", "ray_runtime"]
