// A live total in the browser for score forms (the mRSS): the server recomputes it on save.
// The element with data-live-total names the fields to add up (comma-separated).
document.querySelectorAll("[data-live-total]").forEach(function (output) {
  var names = output.getAttribute("data-live-total").split(",");
  var form = output.closest("form");
  function update() {
    var total = 0, missing = 0;
    names.forEach(function (name) {
      var field = form.elements.namedItem(name);
      var value = field && field.value !== "" ? parseInt(field.value, 10) : NaN;
      if (isNaN(value)) { missing += 1; } else { total += value; }
    });
    output.querySelector("[data-total]").textContent = missing ? total + " (" + missing + " areas to score)" : String(total);
  }
  form.addEventListener("change", update);
  update();
});
