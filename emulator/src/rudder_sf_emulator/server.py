"""HTTPS serving: a threading HTTP/1.1 server with TLS on loopback, handing requests to ``app.handle``."""

from __future__ import annotations

import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import app
from .certs import ensure_certificate
from .http_types import Request, Response
from .org import Config, Org

DEFAULT_HOST = "127.0.0.1"  # loopback: the emulator has demo passwords and is for this machine only


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SFDC"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.settimeout(300)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write("emulator: " + (format % args) + "\n")

    def _serve(self) -> None:
        # the whole exchange counts, outside the org lock, so that concurrent clients are visible as such
        data = self.path.startswith("/services/data/v")
        if data:
            self.server.org.enter_data_request()
        try:
            self._exchange()
        finally:
            if data:
                self.server.org.leave_data_request()

    def _exchange(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        try:
            resp = app.handle(self.server.org, req, self.path)
        except Exception as exc:  # a bug in the emulator must not kill the connection silently
            resp = Response.error(500, "UNKNOWN_EXCEPTION", f"emulator error: {type(exc).__name__}: {exc}")
            if self.server.verbose:
                import traceback

                traceback.print_exc()
        self.send_response(resp.status)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], org: Org, context: ssl.SSLContext, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.org = org
        self.verbose = verbose
        self.context = context

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle/delayed-ACK stalls between writes
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:
            super().handle_error(request, client_address)


def build_server(config: Config, host: str = DEFAULT_HOST, port: int = 0, verbose: bool = False) -> _Server:
    cert, key = ensure_certificate(Path(config.data_dir))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    org = Org(config)
    server = _Server((host, port), org, context, verbose)
    org.base_url = f"https://{host}:{server.server_address[1]}"
    return server
