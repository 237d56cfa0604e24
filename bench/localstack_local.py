"""Run LocalStack with its gateway bound to 127.0.0.1 only (run by .bench/venv's Python 3.13).

LocalStack 4.14's twisted gateway ignores the host of GATEWAY_LISTEN for IPv4 and listens on
0.0.0.0 (a TODO in localstack/runtime/server/twisted.py); this binds its endpoints to the
loopback interface, then runs `python -m localstack.runtime.main` unchanged.
"""

import runpy
from typing import Any

from twisted.internet import endpoints

_endpoint = endpoints.TCP4ServerEndpoint


def _loopback(reactor: Any, port: int, backlog: int = 50, interface: str = "") -> Any:
    return _endpoint(reactor, port, backlog, interface or "127.0.0.1")


endpoints.TCP4ServerEndpoint = _loopback
runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
