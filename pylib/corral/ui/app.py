"""The Flask app and its local server: the page, the flag catalogs and the evaluation endpoint."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.serving import WSGIRequestHandler, make_server

from corral.errors import CorralError
from corral.ui.form import Form, Workbench, engine_flags


def create_app(bench: Workbench) -> Flask:
    """The app over a workbench; its templates and static files are the package's own."""
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return render_template("index.html", **bench.page())

    @app.get("/api/flags/<engine>")
    def catalog(engine: str) -> Response:
        return jsonify(engine_flags(engine))

    @app.post("/api/evaluate")
    def evaluate() -> tuple[Response, int]:
        try:
            return jsonify(bench.evaluate(Form.from_json(request.get_json(force=True)))), 200
        except (CorralError, TypeError) as err:
            return jsonify({"error": str(err)}), 400

    return app


class _Quiet(WSGIRequestHandler):
    """Logs errors, not every request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Say nothing for a request that went well."""


def serve(bench: Workbench, host: str, port: int, started: Callable[[str], Any]) -> None:
    """Serve until interrupted; `started` gets the URL once the socket is bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family) as bound:  # OSError here, not exit()
        port = bound.getsockname()[1]
        server = make_server(
            host,
            port,
            create_app(bench),
            threaded=True,
            request_handler=_Quiet,
            fd=bound.fileno(),
        )
    started(f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{port}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        bench.close()
