// Search results show page text, not the page's buttons. Sphinx builds each result's
// snippet from the text of the page's main element, which in this theme starts with
// the launch and download buttons (so every snippet read "...Binder"). Before Sphinx's
// search runs, wrap its text extraction to drop navigation and buttons and to collapse
// the whitespace they leave.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || !Search.htmlToText) return;
  const extract = Search.htmlToText;
  const chrome = [
    ".bd-header-article", ".bd-sidebar-secondary", ".prev-next-area", ".bd-footer-article",
    ".bd-footer-content", ".d-print-none", ".onlyprint", ".headerlink", "script", "style",
  ].join(", ");
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(chrome).forEach((el) => el.remove());
    return extract(doc.documentElement.outerHTML, anchor).replace(/\s+/g, " ").trim();
  };
});
