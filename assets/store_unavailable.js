// A Dash callback answered 503 (the store or its cache could not answer): say so above the page, since Dash
// itself leaves the figures as they were and a reader would take them for current. The notice goes when a
// callback is answered again.
(function () {
    var NOTICE_ID = "store-unavailable";
    function notice() {
        var el = document.getElementById(NOTICE_ID);
        if (!el) {
            el = document.createElement("div");
            el.id = NOTICE_ID;
            el.setAttribute("role", "alert");
            el.className = "alert alert-warning shadow-sm";
            document.body.appendChild(el);
        }
        return el;
    }
    var fetchFirst = window.fetch;
    window.fetch = function () {
        return fetchFirst.apply(this, arguments).then(function (response) {
            if (String(response.url).indexOf("/_dash-update-component") === -1) {
                return response;
            }
            if (response.status === 503) {
                var show = function (body) {
                    var el = notice();
                    el.textContent = (body && body.error ? body.error : "Data temporarily unavailable.") +
                        " What the page shows may be out of date." +
                        (body && body.request_id ? " (request " + body.request_id + ")" : "");
                    el.hidden = false;
                };
                response.clone().json().then(show, function () { show(null); });
            } else if (response.ok) {
                var el = document.getElementById(NOTICE_ID);
                if (el) { el.hidden = true; }
            }
            return response;
        });
    };
})();
