"""The download path: who may read a file's bytes, and how they are sent (the WSGI fast path and the Django view)."""
