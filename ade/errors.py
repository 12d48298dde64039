"""Domain errors. Entry points map them to HTTP statuses or inline messages; actions only raise them."""


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    """The caller may see the object but not do this to it (its role forbids it)."""

    status = 403


class Invalid(DomainError):
    """Bad input. `field` names what was wrong."""

    status = 400


class Unprocessable(DomainError):
    status = 422


class PayloadTooLarge(DomainError):
    status = 413


class ServiceUnavailable(DomainError):
    """A service this needs (the task queue) is down; nothing was left half-done, and the request may be retried."""

    status = 503


class Conflict(DomainError):
    """A stale write or a state that forbids the action (pending approval, busy agent)."""

    status = 409

    def __init__(self, message: str, *, current=None, **kwargs):
        super().__init__(message, **kwargs)
        self.current = current
