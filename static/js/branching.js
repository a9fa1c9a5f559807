// Branching: a field that applies only when another field has some value is hidden until it applies.
// The form marks each dependent input with data-shown-when (the controlling field's name) and data-shown-values
// (a JSON list of the values for which it applies; yes/no as "true"/"false"), from the form's one declaration
// (FormSpec.branching). A hidden input is also disabled, so that it is not sent; the server refuses a value in a
// field that does not apply, and without this script every field is shown.
(function () {
  function current(form, name) {
    var controls = form.querySelectorAll('[name="' + name + '"]');
    var value = "";
    controls.forEach(function (control) {
      if (control.type === "checkbox") {
        value = control.checked ? "true" : "false";
      } else if (control.type === "radio") {
        if (control.checked) { value = control.value; }
      } else {
        value = control.value;
      }
    });
    return String(value).toLowerCase();
  }

  function box(input) {
    // The field's wrapper (crispy's div_id_<name>), or its grid column when that holds only this field.
    var wrapper = document.getElementById("div_id_" + input.name) || input.parentElement;
    var column = wrapper.parentElement;
    if (column && /(^|\s)col(-|\s|$)/.test(column.className) &&
        Array.prototype.every.call(column.querySelectorAll("input, select, textarea"), function (other) {
          return other.name === input.name;
        })) {
      return column;
    }
    return wrapper;
  }

  function update(form) {
    form.querySelectorAll("[data-shown-when]").forEach(function (input) {
      var wanted = JSON.parse(input.getAttribute("data-shown-values")).map(function (value) {
        return String(value).toLowerCase();
      });
      var applies = wanted.indexOf(current(form, input.getAttribute("data-shown-when"))) !== -1;
      box(input).hidden = !applies;
      if (!applies && !input.disabled) {
        input.disabled = true;
        input.setAttribute("data-branching-disabled", "");
      } else if (applies && input.hasAttribute("data-branching-disabled")) {
        input.disabled = false;
        input.removeAttribute("data-branching-disabled");
      }
    });
  }

  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("[data-shown-when]")) { return; }
    form.addEventListener("change", function () { update(form); });
    update(form);
  });
})();
