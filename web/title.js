// The document title names the page shown, so a tab, the history and a screen reader say
// where the user is: "Records · Stageflow".

export function setTitle(text) {
  document.title = text ? `${text} · Stageflow` : "Stageflow";
}
