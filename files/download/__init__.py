"""The download path: who may read a file's bytes, and how they are sent (the WSGI fast path and the Django view).

An export's signed link is answered here too (``exports``), its ZIP served as a file's bytes are.
"""
