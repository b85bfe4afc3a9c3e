"""The real Flask app served over HTTP for a test: werkzeug's threaded server on a free local port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import WSGIRequestHandler, make_server

from engine.context import EngineContext
from web import create_app


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:  # an access-log line per request is noise
        pass


@contextmanager
def serve(ctx: EngineContext) -> Iterator[str]:
    """Yield the base URL of the app over ``ctx``; shut the server down afterwards."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live_server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
