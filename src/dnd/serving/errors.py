"""API errors: an HTTP status and an OpenAI-style JSON body naming the offending field."""

from __future__ import annotations

TYPES = {400: "invalid_request_error", 404: "not_found_error", 413: "request_too_large",
         503: "server_busy", 504: "timeout"}


class ApiError(Exception):
    """A request the server refuses; `param` names the field (e.g. "messages[0].content")."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        return error_body(self.status, self.message, self.param, self.code)


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    kind = TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
