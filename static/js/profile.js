// The profile page's status form, with JavaScript: the custom "clear at" field only when it is
// chosen, the browser's time zone sent along ("today" and a custom time are the person's), and
// the current status's expiry in local time.

import { untilLabel } from "./presence.js";

export function enhanceStatusForm(form) {
  const clearAfter = form.querySelector("#status-clear-after");
  const untilField = form.querySelector(".status-until-field");
  const until = form.querySelector("#status-until");
  const zone = form.querySelector("#status-tz");
  if (zone) {
    try {
      zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch {
      zone.value = "";
    }
  }
  const offset = form.querySelector("#status-tz-offset");
  // The offset at the chosen time (summer time may differ from now's), as getTimezoneOffset says it.
  form.addEventListener("submit", () => {
    if (!offset) return;
    const at = until?.value ? new Date(until.value) : new Date();
    offset.value = String((Number.isNaN(at.getTime()) ? new Date() : at).getTimezoneOffset());
  });
  const showUntil = () => {
    const custom = clearAfter.value === "custom";
    untilField.hidden = !custom;
    until.required = custom;
  };
  clearAfter?.addEventListener("change", () => {
    showUntil();
    if (clearAfter.value === "custom") until.focus();
  });
  if (clearAfter && untilField && until) showUntil();
  const now = document.getElementById("status-now")?.querySelector("time[datetime]");
  if (now) {
    const label = untilLabel(now.dateTime);
    if (label) now.textContent = label.replace(/^until /, "");
  }
}
