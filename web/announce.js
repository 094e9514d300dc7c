// What the user's own actions did, said to screen readers: a polite live region that every
// view writes to, so a move, a save or a page change is heard and not only seen.

let cleared = null;

export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  // The same words twice are still two announcements: empty the region first.
  region.textContent = "";
  clearTimeout(cleared);
  requestAnimationFrame(() => {
    region.textContent = text;
    cleared = setTimeout(() => { region.textContent = ""; }, 7000);
  });
}
