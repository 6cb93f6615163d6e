// Make the visible menu (☰) and page-contents buttons work at every width.
//
// pydata-sphinx-theme 0.17 puts its own `.primary-toggle` and `.secondary-toggle` buttons in
// the top navbar, which sphinx-book-theme hides, and binds its handlers (open the sidebar
// as a dialog on narrow screens; sphinx-book-theme's collapse on wide ones) to the first
// button of each class only: `document.querySelector(...)`. The buttons a reader sees are
// sphinx-book-theme's, later in the page, and had no handler, so on a phone the chapter
// list could never be opened (pydata-sphinx-theme issue 2451). Here a tap on any later
// button of a class is handed to the first one, which carries the theme's handlers.
// Written for the pinned themes (requirements.txt); no dependencies.
document.addEventListener("DOMContentLoaded", () => {
  for (const cls of ["primary-toggle", "secondary-toggle"]) {
    const [bound, ...unbound] = document.querySelectorAll(`.${cls}`);
    if (!bound) continue;
    for (const button of unbound) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        button.blur();  // the tooltip would otherwise stay up after a tap
        bound.click();
      });
    }
  }
});
