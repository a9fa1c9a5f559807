// The export job page: poll the job's JSON status, fill the progress bar, show the download link when ready.
document.querySelectorAll("[data-export-status]").forEach(function (box) {
  var url = box.getAttribute("data-export-status");
  var meter = box.querySelector("[role=progressbar]");
  var bar = box.querySelector("[data-bar]");
  function show(state) {
    bar.style.width = state.percent + "%";
    bar.textContent = state.percent + "%";
    meter.setAttribute("aria-valuenow", String(state.percent));
    box.querySelector("[data-status]").textContent = state.status_label;
    box.querySelector("[data-rows]").textContent = String(state.rows_done);
    box.querySelector("[data-total]").textContent = String(state.rows_total);
    if (state.error) {
      var error = box.querySelector("[data-error]");
      error.textContent = state.error;
      error.hidden = false;
      bar.classList.add("bg-danger");
    }
    if (state.download_url) {
      box.querySelector("[data-download]").setAttribute("href", state.download_url);
      box.querySelector("[data-sha256]").textContent = state.sha256;
      box.querySelector("[data-ready]").hidden = false;
      bar.classList.add("bg-success");
    }
    return state.status === "queued" || state.status === "running";
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (state) { if (show(state)) { window.setTimeout(poll, 1000); } })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  bar.style.width = bar.getAttribute("data-percent") + "%";
  poll();
});
