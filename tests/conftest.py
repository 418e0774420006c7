import logging

import pytest
import torch
from torch._dynamo.utils import counters


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Every test starts with no compiled code and zeroed torch counters."""
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


@pytest.fixture
def cachepass_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="cachepass")
    return caplog


# torch's structured-trace logger emits DEBUG records that would flood pytest's failure reports; with pytest 9
# `propagate = False` no longer keeps them out (torch resets it), so the logger is disabled outright. Nothing
# here sets TORCH_TRACE, so no trace is lost.
logging.getLogger("torch.__trace").propagate = False
logging.getLogger("torch.__trace").disabled = True
