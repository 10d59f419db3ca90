// The desk's own script: the margin dialog, the slider's spoken value, where the keyboard
// focus goes after an action, and margin calls announced once per level.
// Everything else is htmx (shipped by django-htmx); every action also works without this.
(function () {
  "use strict";

  function dialog() {
    return document.getElementById("margin-dialog");
  }

  // The row whose "Margin…" control opened the dialog: closing the dialog (Escape, Cancel
  // or a confirmed change, which redraws the positions) returns the focus to that control.
  var opener = null;

  function focusOpener() {
    if (!opener) {
      return false;
    }
    var row = document.querySelector('#positions [data-symbol="' + opener + '"]');
    var control = row && row.querySelector("[data-margin-open]");
    if (control) {
      control.focus();
      return true;
    }
    return false;
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var control = target instanceof Element && target.closest("[data-margin-open]");
    if (control) {
      var row = control.closest("[data-symbol]");
      opener = row ? row.getAttribute("data-symbol") : null;
    }
  }, true);

  // After an action answers (its section swapped in place), the focus goes to the message
  // that answers it (a notice marked data-focus), or back to the control that was used.
  function focusAfter(event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.id) {
      return;
    }
    var section = document.getElementById(target.id);
    if (!section) {
      return;
    }
    var message = section.querySelector("[data-focus]");
    if (message) {
      message.focus();
      return;
    }
    var used = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (used && used.id && document.getElementById(used.id)) {
      document.getElementById(used.id).focus();
    }
  }
  var focusedFor = null; // the answer the focus was placed for (each section settles)
  document.addEventListener("htmx:afterSettle", function (event) {
    var detail = event.detail || {};
    var config = detail.requestConfig;
    // Only an action the learner took (a post), once per answer; previews and live
    // pushes leave the focus where it is.
    if (config && config.verb === "post" && detail.xhr && detail.xhr !== focusedFor) {
      focusedFor = detail.xhr;
      focusAfter(event);
    }
  });

  // Dismissing a notice: the focus goes to the next notice, or to the desk's ticket.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    var config = event.detail && event.detail.requestConfig;
    if (target && target.id === "liquidation-notices" && config && config.verb === "post") {
      var next = document.querySelector("#liquidation-notices [data-liquidation]");
      var ticket = document.getElementById("ticket-title");
      if (next) {
        next.focus();
      } else if (ticket) {
        ticket.setAttribute("tabindex", "-1");
        ticket.focus();
      }
    }
  });

  // A margin call is announced when it begins and when it turns urgent, not on every
  // push: a redraw of the alerts that names the same levels is not swapped in (the live
  // region's text changes only when a level does).
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var detail = event.detail;
    if (!detail || !detail.target || detail.target.id !== "margin-alerts") {
      return;
    }
    var incoming = detail.fragment;
    if (incoming && !(incoming.getAttribute && incoming.hasAttribute("data-levels"))) {
      incoming = incoming.querySelector ? incoming.querySelector("[data-levels]") : null;
    }
    if (incoming && incoming.getAttribute("data-levels") === detail.target.getAttribute("data-levels")) {
      detail.shouldSwap = false;
    }
  });

  // Escape or Cancel: back to the control that opened the dialog.
  document.addEventListener("close", function (event) {
    if (event.target && event.target.id === "margin-dialog") {
      focusOpener();
    }
  }, true);

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
  // It comes once the positions are redrawn: the focus goes to the new row's control.
  document.body.addEventListener("margin-changed", function () {
    var d = dialog();
    if (d && d.open) {
      d.close();
    }
    focusOpener();
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
    // With no position open, the ticket's sentence names the next order's setting.
    var words = document.querySelector("#leverage-rule[data-next] strong");
    if (words) {
      var stop = parseInt(slider.value, 10);
      words.textContent = stop === 0 ? "cross margin" : "isolated margin at " + stop + "x";
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "leverage-stop") {
      syncSlider(event.target);
    }
  });

  // A stop the learner has moved the slider to, and not yet used, is theirs: a live
  // redraw of the section holding the slider (the snapshot sent when the desk connects or
  // reconnects, another tab's trade) that brings the same setting as the page had keeps
  // the learner's stop instead of jumping back under their finger. A redraw that brings a
  // different setting (a position opened, closed or liquidated, a leverage applied) shows
  // the new one. The learner's own answers (swapped into their own target) always do.
  var heldStop = null;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var detail = event.detail || {};
    var slider = document.getElementById("leverage-stop");
    if (!detail.target || !slider || !detail.target.contains(slider)) {
      return;
    }
    var fragment = detail.fragment;
    var incoming = fragment && fragment.id === "leverage-stop" ? fragment
      : fragment && fragment.querySelector ? fragment.querySelector("#leverage-stop") : null;
    var moved = slider.value !== slider.defaultValue;
    var same = incoming && incoming.getAttribute("value") === slider.defaultValue &&
      incoming.getAttribute("max") === slider.getAttribute("max");
    heldStop = moved && same ? slider.value : null;
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    if (heldStop === null) {
      return;
    }
    var slider = document.getElementById("leverage-stop");
    if (slider) {
      slider.value = heldStop;
      syncSlider(slider);
    }
    heldStop = null;
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

  // A section redrawn out of band (a live push, or another part of an answer) must not
  // take the keyboard focus with it: the message that answered the learner's last action
  // is carried into the new section and keeps the focus; any other focused control is
  // focused again in the new section (the same id).
  var kept = null;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    var active = document.activeElement;
    if (!target || !target.id || !active || active === document.body || !target.contains(active)) {
      return;
    }
    kept = {
      section: target.id,
      notice: active.hasAttribute("data-focus") ? active : null,
      id: active.id || null,
    };
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    if (!kept) {
      return;
    }
    var was = kept;
    kept = null;
    var section = document.getElementById(was.section);
    if (!section) {
      return;
    }
    if (was.notice) {
      if (!section.querySelector("[data-focus]")) {
        var heading = section.querySelector("h2");
        if (heading && heading.parentNode === section) {
          heading.insertAdjacentElement("afterend", was.notice);
        } else {
          section.insertAdjacentElement("afterbegin", was.notice);
        }
      }
      section.querySelector("[data-focus]").focus();
    } else if (was.id && document.getElementById(was.id)) {
      document.getElementById(was.id).focus();
    }
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
