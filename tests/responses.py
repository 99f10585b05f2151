"""What a Django test client's response carried, whichever kind of response it was."""


def body(response) -> bytes:
    """The bytes of ``response``: streamed (a file sent with sendfile, an export) or held (a small file, JSON)."""
    return b"".join(response.streaming_content) if response.streaming else response.content
