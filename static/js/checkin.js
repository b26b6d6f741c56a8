/* The door page (templates/admission/checkin.html), on top of a page that works
 * without it: forms are sent in the background so the camera keeps running, the
 * camera reads QR codes (BarcodeDetector where the browser has it, the vendored
 * jsQR otherwise), each answer beeps and flashes, and the counter is polled so two
 * door phones see each other's scans.
 *
 * window.doorCheckin is the page's hook: submitScan(text) sends a decoded code
 * exactly as a typed one; decode(source) reads a QR code from a video, canvas or
 * image; loadDecoder() loads jsQR.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-checkin]");
  if (!root) {
    return;
  }
  var PAUSE_AFTER_SCAN_MS = 1500; // the reader rests after each code it sends
  var SAME_CODE_IGNORED_MS = 5000; // a QR still held up is not sent again
  var POLL_MS = 4000;
  var FRAME_MS = 120;
  var form = root.querySelector("form.checkin__form");
  var input = document.getElementById("checkin-token");
  var audio = null;
  var pausedUntil = 0;
  var lastCode = "";
  var lastCodeAt = 0;
  var busy = false;

  /* -- answers ----------------------------------------------------------------- */

  function replaceFrom(doc, id) {
    var fresh = doc.getElementById(id);
    var here = document.getElementById(id);
    if (!fresh || !here) {
      return;
    }
    // Children only: the live region itself stays, so screen readers announce it.
    here.replaceChildren.apply(
      here,
      Array.prototype.map.call(fresh.childNodes, function (node) {
        return document.importNode(node, true);
      })
    );
  }

  function showMessage(text) {
    var region = document.getElementById("checkin-result");
    var panel = document.createElement("div");
    var line = document.createElement("p");
    panel.className = "checkin-result__panel checkin-result--refused";
    panel.setAttribute("data-result", "network-error");
    line.className = "checkin-result__headline";
    line.textContent = text;
    panel.appendChild(line);
    region.replaceChildren(panel);
  }

  function wakeAudio() {
    // Browsers keep sound off until the user taps: wake it on the first tap.
    if (!audio && window.AudioContext) {
      audio = new window.AudioContext();
    }
  }

  // Green, amber or red, as the banner shows it.
  function kindOf(result) {
    return { ok: "ok", undone: "ok", already_used: "warn" }[result] || "bad";
  }

  function beep(result) {
    if (!audio) {
      return;
    }
    var tone = { ok: 880, warn: 440, bad: 220 }[kindOf(result)];
    var oscillator = audio.createOscillator();
    var gain = audio.createGain();
    oscillator.frequency.value = tone;
    gain.gain.value = 0.2;
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + (kindOf(result) === "ok" ? 0.15 : 0.45));
  }

  function flash(result) {
    document.body.setAttribute("data-flash", kindOf(result));
    window.setTimeout(function () {
      document.body.removeAttribute("data-flash");
    }, 600);
  }

  function announce() {
    var panel = document.querySelector("#checkin-result [data-result]");
    var result = panel ? panel.getAttribute("data-result") : "";
    beep(result);
    flash(result);
    if (input) {
      input.value = "";
      // Ready for the next typed code; not while the camera reads (on a phone the
      // keyboard would cover the answer).
      if (!stream) {
        input.focus();
      }
    }
  }

  function send(target) {
    if (busy) {
      return Promise.resolve();
    }
    busy = true;
    return fetch(target.action, {
      method: "POST",
      body: new FormData(target),
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/login/") !== -1) {
          window.location.assign(response.url); // signed out: log in again
          return;
        }
        return response.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          if (!doc.getElementById("checkin-result")) {
            throw new Error("HTTP " + response.status); // not the door page
          }
          replaceFrom(doc, "checkin-result");
          replaceFrom(doc, "checkin-count");
          announce();
        });
      })
      .catch(function () {
        showMessage(root.getAttribute("data-network-error"));
        flash("network-error");
      })
      .finally(function () {
        busy = false;
      });
  }

  // The scan form and the undo form in an answer (it arrives later: delegate).
  root.addEventListener("submit", function (event) {
    var target = event.target;
    if (!target.matches("[data-enhance], .checkin-undo")) {
      return;
    }
    event.preventDefault();
    wakeAudio();
    send(target);
  });

  function submitScan(text) {
    if (!form || !input) {
      return Promise.resolve();
    }
    input.value = text;
    return send(form);
  }

  /* -- the counter ------------------------------------------------------------- */

  function setCounts(container, numbers) {
    container.querySelectorAll("[data-count]").forEach(function (cell) {
      cell.textContent = String(numbers[cell.getAttribute("data-count")]);
    });
  }

  function row(type) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    name.className = "checkin-count__type";
    name.textContent = type.name;
    item.setAttribute("data-ticket-type", String(type.id));
    item.append(name, " ");
    ["checked_in", "expected"].forEach(function (key, index) {
      var number = document.createElement("span");
      number.setAttribute("data-count", key);
      item.append(index ? " / " : "", number);
    });
    setCounts(item, type);
    return item;
  }

  function poll() {
    var counter = document.getElementById("checkin-count");
    if (!counter || document.hidden) {
      return;
    }
    fetch(root.getAttribute("data-count-url"), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!data) {
          return;
        }
        setCounts(counter.querySelector("[data-testid=counter-total]"), data);
        counter
          .querySelector("[data-count-rows]")
          .replaceChildren.apply(
            counter.querySelector("[data-count-rows]"),
            data.ticket_types.map(row)
          );
      })
      .catch(function () {
        /* offline for a moment: the next poll or scan brings it back */
      });
  }

  window.setInterval(poll, POLL_MS);

  /* -- the camera -------------------------------------------------------------- */

  var camera = root.querySelector("[data-camera]");
  var video = root.querySelector("[data-camera-video]");
  var canvas = document.createElement("canvas");
  var detector = null;
  var stream = null;
  var decoderLoading = null;

  function loadDecoder() {
    if (window.jsQR) {
      return Promise.resolve(window.jsQR);
    }
    if (!decoderLoading) {
      decoderLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = root.getAttribute("data-decoder-url");
        script.onload = function () {
          resolve(window.jsQR);
        };
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return decoderLoading;
  }

  function chooseDecoder() {
    if (!("BarcodeDetector" in window)) {
      return loadDecoder();
    }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") === -1) {
        return loadDecoder();
      }
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    });
  }

  function decode(source) {
    if (detector) {
      return detector.detect(source).then(function (codes) {
        return codes.length ? codes[0].rawValue : null;
      });
    }
    return loadDecoder().then(function (jsQR) {
      var width = source.videoWidth || source.naturalWidth || source.width;
      var height = source.videoHeight || source.naturalHeight || source.height;
      if (!width || !height) {
        return null;
      }
      canvas.width = width;
      canvas.height = height;
      var context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(source, 0, 0, width, height);
      var found = jsQR(context.getImageData(0, 0, width, height).data, width, height);
      return found ? found.data : null;
    });
  }

  function scanFrame() {
    if (!stream) {
      return;
    }
    var next = function () {
      window.setTimeout(scanFrame, FRAME_MS);
    };
    if (busy || Date.now() < pausedUntil || video.readyState < 2) {
      next();
      return;
    }
    decode(video)
      .then(function (text) {
        var now = Date.now();
        if (!text || (text === lastCode && now - lastCodeAt < SAME_CODE_IGNORED_MS)) {
          if (text) {
            lastCodeAt = now; // still held up: keep ignoring it
          }
          return;
        }
        lastCode = text;
        lastCodeAt = now;
        pausedUntil = now + PAUSE_AFTER_SCAN_MS;
        return submitScan(text);
      })
      .catch(function () {})
      .finally(next);
  }

  function toggle(running) {
    root.querySelector("[data-camera-start]").hidden = running;
    root.querySelector("[data-camera-stop]").hidden = !running;
    video.hidden = !running;
  }

  function startCamera() {
    var message = root.querySelector("[data-camera-message]");
    message.hidden = true;
    wakeAudio();
    chooseDecoder()
      .then(function () {
        return navigator.mediaDevices.getUserMedia({
          video: { facingMode: "environment" },
          audio: false,
        });
      })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        toggle(true);
        return video.play();
      })
      .then(scanFrame)
      .catch(function () {
        stopCamera();
        message.textContent = root.getAttribute("data-camera-error");
        message.hidden = false;
      });
  }

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
    }
    stream = null;
    video.srcObject = null;
    toggle(false);
  }

  if (camera && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    camera.hidden = false;
    root.querySelector("[data-camera-start]").addEventListener("click", startCamera);
    root.querySelector("[data-camera-stop]").addEventListener("click", stopCamera);
  }

  window.doorCheckin = { submitScan: submitScan, decode: decode, loadDecoder: loadDecoder };
})();
