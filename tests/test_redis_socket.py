"""Redis on a Unix socket (`C254_REDIS_URL=unix:///run/redis/redis.sock?db=0`, the usual way on one host): the page
cache, the sign-in limit and the product API's meter all reach it. flask-limiter calls the scheme `redis+unix`,
where redis-py and the rest of the app say `unix`; given `unix://` as such, the app would not start."""
from __future__ import annotations

import redis

from tests.support.product_api import product_api
from tests.support.signin import sign_in


def test_the_cache_sign_in_limit_and_api_meter_use_redis_on_a_unix_socket(make_app, redis_server, request):
    served = product_api(make_app, request, "socket-trader@example.com", redis_url=redis_server.unix_url, auth=True,
                         login_limit="3 per 15 minutes")
    answer = served.dash_app.server.test_client().get(served.url, headers=served.headers)
    assert answer.status_code == 200, answer.get_json()

    guesser = served.dash_app.server.test_client()
    assert [sign_in(guesser, served.user.email, "not-the-password").status_code for _ in range(4)] == [
        401, 401, 401, 429]

    held = {key.decode() for key in redis.Redis.from_url(redis_server.unix_url).keys("*")}
    assert any(key.startswith("c254:") for key in held), held  # the page cache (app/factory.py's prefix)
    assert any("/c254-signin/" in key for key in held), held  # the sign-in counters (app/auth.py)
    assert any("/c254-api-rate/" in key for key in held), held  # the product API's rate limit
    assert redis.Redis(port=redis_server.port).dbsize() == len(held)  # the same server, reached by its socket
