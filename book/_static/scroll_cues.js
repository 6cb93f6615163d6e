// A visible cue on every box that scrolls sideways: a shadow on the edge where more is
// hidden (right, left or both), so a reader on a phone knows a formula, code line or table
// goes on (a clipped "oth" of "otherwise" looks like the end of the line otherwise).
// The shadow is drawn by book.css for the classes set here; it follows the scroll position.
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

  const mark = (el) => {
    const hidden = el.scrollWidth - el.clientWidth;
    el.classList.toggle("scroll-more-right", hidden > 1 && el.scrollLeft < hidden - 1);
    el.classList.toggle("scroll-more-left", hidden > 1 && el.scrollLeft > 1);
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
