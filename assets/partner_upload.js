// The partner portal's upload box takes files up to its max_size (the largest a callback request may carry);
// dcc.Upload drops a larger file without telling anyone, so the box is watched here and the user told.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    partner: {
        watchUploadSize: function (maxSize) {
            var size = function (n) {
                return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.floor(n / 1024) + " KB";
            };
            var check = function (files) {
                var big = Array.prototype.find.call(files || [], function (file) { return file.size > maxSize; });
                if (!big) { return; }
                window.dash_clientside.set_props("pt-upload-message", {
                    children: big.name + " is " + size(big.size) + ", larger than the " + size(maxSize) +
                        " this page takes: nothing of it was sent. Upload it through the API (POST " +
                        "/api/v1/partner/products/<slug>/data) with a key of this account.",
                    is_open: true, color: "danger"});
            };
            // the callback may run before the box is in the document: look again for a few seconds
            var watch = function (tries) {
                var box = document.getElementById("pt-upload");
                if (!box) {
                    if (tries > 0) { setTimeout(function () { watch(tries - 1); }, 100); }
                    return;
                }
                if (box.dataset.sizeChecked === String(maxSize)) { return; }
                box.dataset.sizeChecked = String(maxSize);
                box.addEventListener("drop", function (event) {
                    check(event.dataTransfer && event.dataTransfer.files);
                }, true);
                box.addEventListener("change", function (event) { check(event.target && event.target.files); }, true);
            };
            watch(50);
            return window.dash_clientside.no_update;
        }
    }
});
