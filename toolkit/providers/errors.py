"""The error every provider call raises, in its own module so the endpoint and the client both use it without
importing each other."""


class ProviderError(RuntimeError):
    """A provider call that failed; ``retryable`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False, rate_limited: bool = False):
        super().__init__(message)
        self.status, self.retryable, self.rate_limited = status, retryable, rate_limited
