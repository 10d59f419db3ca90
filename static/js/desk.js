// The desk's own script: the margin dialog and the slider's spoken value.
// Everything else is htmx (shipped by django-htmx); every action also works without this.
(function () {
  "use strict";

  function dialog() {
    return document.getElementById("margin-dialog");
  }

  // The "Margin…" link loads the form into the dialog, then the dialog opens as a modal.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "margin-dialog-body") {
      var d = dialog();
      if (d && !d.open) {
        d.showModal();
      }
      var amount = document.getElementById("margin-amount");
      if (amount) {
        amount.focus();
      }
    }
  });

  // A confirmed margin change closes the dialog (the server sends this event).
  document.body.addEventListener("margin-changed", function () {
    var d = dialog();
    if (d && d.open) {
      d.close();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && target.closest("[data-dialog-close]")) {
      var d = dialog();
      if (d && d.open) {
        d.close();
      }
    }
  });

  // The slider's stop, in words: stop 0 is cross margin, stop N is isolated at N times.
  function describe(slider) {
    var stop = parseInt(slider.value, 10);
    return stop === 0 ? "Cross margin" : "Isolated " + stop + "x";
  }

  function syncSlider(slider) {
    var text = describe(slider);
    slider.setAttribute("aria-valuetext", text);
    var output = document.getElementById("leverage-value");
    if (output) {
      output.textContent = text;
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "leverage-stop") {
      syncSlider(event.target);
    }
  });

  // A request the server refused outright (403, 404, 500) or could not be sent: say so,
  // instead of leaving the learner wondering. Nothing on the page was changed.
  function problem(text) {
    var box = document.getElementById("request-problem");
    if (box) {
      box.textContent = text;
      box.hidden = false;
    }
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 403) {
      problem("That was refused: the page is out of date. Reload the page and try again; nothing was changed.");
    } else if (status === 404) {
      problem("That account or position is not yours, or no longer exists. Nothing was changed.");
    } else {
      problem("The sandbox could not do that (error " + status + "). Nothing was changed; try again.");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    problem("The sandbox server could not be reached. Check that it is still running, then try again.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("request-problem");
    if (box) {
      box.hidden = true;
    }
  });

  // Live updates. While the desk's socket is closed (the server, or its Redis, away) the
  // page says so; htmx's websocket extension reconnects by itself, here at most about 5 s
  // apart, and on reconnecting the server sends a full snapshot, so the desk catches up.
  if (window.htmx) {
    window.htmx.config.wsReconnectDelay = function (retries) {
      var most = Math.min(5000, 500 * Math.pow(2, retries));
      return most / 2 + (most / 2) * Math.random();
    };
  }
  function liveConnection(ok) {
    var notice = document.getElementById("live-connection");
    if (notice) {
      notice.hidden = ok;
    }
  }
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail && event.detail.event ? event.detail.event.code : 0;
    // 1000/1001: the page is leaving; 4xxx: the server refused the socket and said why.
    if (code !== 1000 && code !== 1001 && code < 4000) {
      liveConnection(false);
    }
  });
  document.addEventListener("htmx:wsOpen", function () {
    liveConnection(true);
  });

  function init() {
    var slider = document.getElementById("leverage-stop");
    if (slider) {
      syncSlider(slider);
    }
    // With JavaScript the previews update as you type; the no-JS preview buttons can go.
    document.documentElement.classList.add("js");
  }

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
