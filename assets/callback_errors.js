// A Dash callback answered with a server error: say so above the page, with the request id to quote, since Dash
// itself leaves the figures as they were (it reports errors only in debug mode) and a reader would take them for
// current. 503: the store or its cache could not answer, and the page recovers by itself; 500 and the rest: a
// fault of ours, logged under that request id (a proxy's 502 or 504 has no body: its status is said). The notice
// goes once every callback that failed has been answered again (another callback answering says nothing of the
// figures the failed one left as they were).
(function () {
    var NOTICE_ID = "callback-error";
    function notice() {
        var el = document.getElementById(NOTICE_ID);
        if (!el) {
            el = document.createElement("div");
            el.id = NOTICE_ID;
            el.setAttribute("role", "alert");
            document.body.appendChild(el);
        }
        return el;
    }
    function sentence(text) {
        text = String(text).trim();
        text = text.charAt(0).toUpperCase() + text.slice(1);
        return /[.!?]$/.test(text) ? text : text + ".";
    }
    var failing = {};  // the outputs of the callbacks whose last answer was a server error
    function outputOf(init) {
        try {
            return JSON.parse(init.body).output || "";
        } catch (e) {
            return "";
        }
    }
    var fetchFirst = window.fetch;
    window.fetch = function (resource, init) {
        return fetchFirst.apply(this, arguments).then(function (response) {
            if (String(response.url).indexOf("/_dash-update-component") === -1) {
                return response;
            }
            var output = outputOf(init || {});  // read only for a callback's request
            if (response.status >= 500) {
                failing[output] = true;
                var unavailable = response.status === 503;
                var show = function (body) {
                    var el = notice();
                    var said = body && body.error ? sentence(body.error)
                        : unavailable ? "Data temporarily unavailable."
                        : "The server did not answer (HTTP " + response.status + ").";
                    var rid = (body && body.request_id) || response.headers.get("X-Request-ID");
                    el.className = "alert shadow-sm " + (unavailable ? "alert-warning" : "alert-danger");
                    el.textContent = said + " What the page shows may be out of date." +
                        (rid ? " (request " + rid + ")" : "");
                    el.hidden = false;
                };
                response.clone().json().then(show, function () { show(null); });
            } else if (response.ok) {
                if (output.indexOf("_pages_content.") !== -1) {
                    failing = {};  // another page: what failed on the last one is no longer shown
                }
                delete failing[output];
                var el = document.getElementById(NOTICE_ID);
                if (el && Object.keys(failing).length === 0) { el.hidden = true; }
            }
            return response;
        });
    };
})();
