"""The figures each process counts for itself (prometheus-client; summed over gunicorn's workers in multiprocess
mode, see app/metrics.py). Kept apart from the ``/metrics`` route so that the services can count cache hits
without importing the route's module."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram("c254_request_seconds", "Time to answer a request, by route (the URL rule) and status "
                            "class", ["route", "method", "status"], buckets=_BUCKETS)
CALLBACK_SECONDS = Histogram("c254_callback_seconds", "Time to answer a Dash callback, by its output id",
                             ["callback", "status"], buckets=_BUCKETS)
CACHE_REQUESTS = Counter("c254_cache_requests", "Cached answers asked for, by data class and result (hit, miss, "
                         "error: the cache could not be read or written, the answer was computed; warmed: "
                         "computed ahead of any request by warming, which counts no hit or miss)",
                         ["data_class", "result"])

#: counted as each call is answered, in the web worker that answers it (the product API is served by web workers
#: in every way of running the app)
API_CALLS = Counter("c254_marketplace_api_calls", "Product API data calls answered, by status and the kind of key "
                    "sent (none: no well-formed key)", ["status", "key_kind"])


def count_cache(data_class: str, result: str) -> None:
    CACHE_REQUESTS.labels(data_class, result).inc()
