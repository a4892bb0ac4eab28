// A Dash callback answered 401 (the session expired or the account was disabled while the page was open):
// go to the sign-in page, and back here afterwards, rather than leave a page that silently stops updating.
(function () {
    var fetchFirst = window.fetch;
    window.fetch = function () {
        return fetchFirst.apply(this, arguments).then(function (response) {
            if (response.status === 401 && String(response.url).indexOf("/_dash-update-component") !== -1) {
                var here = window.location.pathname + window.location.search;
                window.location.assign("/login?next=" + encodeURIComponent(here));
            }
            return response;
        });
    };
})();
