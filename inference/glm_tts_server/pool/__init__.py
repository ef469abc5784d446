"""Several model instances per pod: one backend per worker process, dispatched by the HTTP process.

`PooledBackend` implements `backends.base.Backend`, so the queue, timeouts, streaming, drain and
OOM handling above it are unchanged. Used when `Settings.instances` > 1 (GLMTTS_INSTANCES).
"""

from glm_tts_server.pool.backend import PooledBackend
from glm_tts_server.pool.errors import InstanceLost

__all__ = ["InstanceLost", "PooledBackend"]
