// Herald's GraphQL console: sends the query with the token to POST /graphql and shows
// the response. Served from the binary; loads nothing from elsewhere.
(function () {
  "use strict";
  var token = document.getElementById("token");
  var query = document.getElementById("query");
  var variables = document.getElementById("variables");
  var result = document.getElementById("result");
  var status = document.getElementById("status");
  var run = document.getElementById("run");

  token.value = sessionStorage.getItem("herald-token") || "";
  token.addEventListener("change", function () {
    sessionStorage.setItem("herald-token", token.value.trim());
  });

  function send() {
    var vars = {};
    var text = variables.value.trim();
    if (text !== "") {
      try {
        vars = JSON.parse(text);
      } catch (e) {
        status.textContent = "variables are not JSON";
        result.textContent = String(e);
        return;
      }
    }
    status.textContent = "…";
    result.removeAttribute("data-state");
    run.disabled = true;
    fetch("/graphql", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": "Bearer " + token.value.trim()
      },
      body: JSON.stringify({query: query.value, variables: vars})
    }).then(function (res) {
      status.textContent = "HTTP " + res.status;
      return res.text();
    }).then(function (body) {
      try {
        result.textContent = JSON.stringify(JSON.parse(body), null, 2);
      } catch (e) {
        result.textContent = body;
      }
    }).catch(function (e) {
      status.textContent = "failed";
      result.textContent = String(e);
    }).finally(function () {
      run.disabled = false;
      result.setAttribute("data-state", "done");
    });
  }

  run.addEventListener("click", send);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      send();
    }
  });
})();
