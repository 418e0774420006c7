"""cachepass: step caching for diffusion transformers inside torch.compile.

    compiled = cachepass.compile(model, cache=PABConfig(spatial_skip=2))   # options checked before tracing
    compiled = torch.compile(model, backend="cachepass", options={"cache": PABConfig(spatial_skip=2)})

The backend captures the denoiser as one FX graph, tags its attention, plans which attention
results each step computes or reuses, rewrites the graph into a fixed set of variants with explicit
cache reads and writes, compiles each variant once with Inductor, and dispatches among them at run
time. See README.md and docs/.
"""

from .api import compile, compiled_graphs, reset
from .backend import cachepass_backend
from .errors import ConfigError, StageError
from .integrations.listen import record_contexts, watch_denoising_loops
from .integrations.parallel import enable_context_parallel, ready_for_dynamo
from .methods.dbcache.config import DBConfig
from .methods.fastercache.config import FCConfig
from .methods.fbc.config import FBCConfig
from .methods.magcache.config import MagConfig
from .methods.pab.config import PABConfig
from .methods.seacache.config import SeaConfig
from .methods.taylorseer.calibrator import TaylorCalibratorConfig
from .methods.taylorseer.config import TSConfig
from .methods.teacache.config import TeaCacheConfig
from .report import report
from .runtime.registry import start_of_denoising_loop
from .tune import TuneResult, tune

record_contexts()  # see listen.py, NOTE [The context of the first call]
watch_denoising_loops(start_of_denoising_loop)  # see listen.py, NOTE [Where a pipeline call starts]

__all__ = ["DBConfig", "FBCConfig", "FCConfig", "MagConfig", "TSConfig", "PABConfig", "TeaCacheConfig", "SeaConfig",
           "TaylorCalibratorConfig", "ConfigError", "StageError",
           "cachepass_backend", "compile", "compiled_graphs", "enable_context_parallel", "ready_for_dynamo",
           "report", "reset", "tune", "TuneResult"]
__version__ = "0.1.0"
