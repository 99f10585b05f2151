"""The file-serving benchmark: the project against the usual ways of serving files.

Started by ``bash bench/run`` (which installs the tools first); see bench/README.md.

What it does, in order:

1. makes the data in a temp dir: valid PDFs of 10 KiB and 64 MiB of random
   bytes (the project accepts only real PDFs, PNGs, ...: every peer serves
   these same bytes), and a sparse 1 GiB PDF for the memory measurement;
2. loads each peer in turn, alone on the machine, with one server process:
   nginx (sendfile), WhiteNoise and Django's static.serve under gunicorn,
   Starlette's StaticFiles under uvicorn;
3. loads the project itself under gunicorn (PostgreSQL, files on local disk):
   a signed URL, a token, the 64 MiB file in ``stream`` mode (download audit
   events batched, the default; then the count of events written is checked
   against the requests served), the signed URL and the token again with
   ``FILES_AUDIT_FLUSH_SECONDS=0`` (each event INSERTed in the request), then
   in ``accel`` mode behind nginx (X-Accel-Redirect);
4. samples the peak RSS of the project's worker while it sends a 1 GiB file
   and while it receives one;
5. prints the table and the target ratios, writes the raw figures as JSON.

Every load run is checked first: one download with curl must answer 200 with
the right bytes, or the row is FAILED (never silently skipped); a run with
any non-2xx answer is FAILED too. Everything listens on 127.0.0.1 only, every
run is bounded in time, and everything started is stopped at the end.
"""
