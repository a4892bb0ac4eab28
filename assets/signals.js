// The signals page: mark each strategy-parameter input the server refused, with its message beside it. The
// server writes {name: message} into the sg-param-problems store; the inputs' ids are pattern ids (one per
// parameter), which a server callback could only name by a wildcard output.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    signals: {
        markParameters: function (problems, ids) {
            var found = problems || {};
            return [
                ids.map(function (id) { return Object.prototype.hasOwnProperty.call(found, id.name); }),
                ids.map(function (id) { return found[id.name] || null; })
            ];
        }
    }
});
