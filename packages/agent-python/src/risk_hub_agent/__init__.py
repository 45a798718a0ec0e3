"""Risk Hub agent for Python: WSGI and ASGI middleware that report an application's requests, logins
and custom events to the Risk Hub relay and enforce its decisions (block / challenge / monitor).

Standard library only. Quick start: packages/agent-python/README.md.
"""

from ._decisions import Decision
from ._identity import hashed_user_key, identity_problem
from ._options import ConfigError
from .agent import AGENT_INFO, Agent, Blocked, RequestContext, __version__, current_request
from .asgi import RiskHubASGI
from .wsgi import RiskHubWSGI

__all__ = [
    "AGENT_INFO", "Agent", "Blocked", "ConfigError", "Decision", "RequestContext", "RiskHubASGI", "RiskHubWSGI",
    "__version__", "current_request", "hashed_user_key", "identity_problem",
]
