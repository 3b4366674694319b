"""The HTTP service (`veil serve`): the same engine behind FastAPI, a SQLite job store and
worker processes, plus a review page. Install with the `server` extra."""
