// A visible cue on every box that scrolls sideways: a shade on the edge where more is
// hidden (right, left or both), so a reader on a phone knows a formula, code line or table
// goes on (a clipped "oth" of "otherwise" looks like the end of the line otherwise).
// The shade is drawn by book.css for the classes set here; it follows the scroll position.
// Written for this book; no dependencies.
(() => {
  const SELECTOR = [
    'mjx-container[display="true"]',
    "div.highlight pre",
    "div.cell_output pre",
    "div.output pre",
    ".bd-article table.table",
    ".bd-article .pst-scrollable-table-container",
  ].join(", ");

  // The shade is drawn over the box by its parent (book.css: .scroll-cue-host::before and
  // ::after), because a shadow on the box itself is painted under its cells' and lines'
  // own backgrounds, and the notebook styles remove it from code.
  const mark = (el) => {
    const hidden = el.scrollWidth - el.clientWidth;
    const right = hidden > 1 && el.scrollLeft < hidden - 1;
    const left = hidden > 1 && el.scrollLeft > 1;
    el.classList.toggle("scroll-more-right", right);
    el.classList.toggle("scroll-more-left", left);
    const host = el.parentElement;
    if (!host) return;
    host.classList.add("scroll-cue-host");
    host.classList.toggle("scroll-cue-right", right);
    host.classList.toggle("scroll-cue-left", left);
  };

  const markAll = () => {
    for (const el of document.querySelectorAll(SELECTOR)) {
      if (!el.dataset.scrollCue) {
        el.dataset.scrollCue = "1";
        el.addEventListener("scroll", () => mark(el), { passive: true });
      }
      mark(el);
    }
  };

  document.addEventListener("DOMContentLoaded", () => {
    markAll();
    window.addEventListener("resize", markAll);
    // formulas exist only once MathJax has typeset them
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) mj.startup.promise.then(markAll);
  });
  window.addEventListener("load", () => {
    markAll();
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) mj.startup.promise.then(markAll);
  });
})();
