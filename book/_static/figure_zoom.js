// Every figure of the book opens at full resolution when tapped or clicked.
// On a phone a two-panel figure is shrunk to the screen's width, where its axis labels
// are too small to read. Each output figure is wrapped in a link to its image file (which
// works without scripts); a tap on a figure shown smaller than its file opens it instead
// in a full-screen viewer at the file's own size (150 dpi: 8 pt text is 17 px), which the
// reader pans with a finger and closes with the button, Escape or a tap outside it.
// Written for this book; no dependencies.
(() => {
  let viewer = null;

  const close = () => {
    if (!viewer) return;
    viewer.remove();
    viewer = null;
    document.documentElement.classList.remove("figure-viewer-open");
  };

  const open = (img) => {
    close();
    viewer = document.createElement("div");
    viewer.className = "figure-viewer";
    viewer.setAttribute("role", "dialog");
    viewer.setAttribute("aria-label", "Figure at full size");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "figure-viewer-close";
    button.textContent = "\u00d7";
    button.setAttribute("aria-label", "Close the figure");
    button.addEventListener("click", close);
    const pane = document.createElement("div");
    pane.className = "figure-viewer-pane";
    const big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    big.style.width = `${img.naturalWidth}px`;
    pane.appendChild(big);
    pane.addEventListener("click", (event) => {
      if (event.target === pane) close();
    });
    viewer.append(button, pane);
    document.body.appendChild(viewer);
    document.documentElement.classList.add("figure-viewer-open");
    button.focus();
  };

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });

  document.addEventListener("DOMContentLoaded", () => {
    for (const img of document.querySelectorAll("main .cell_output img, main figure img")) {
      if (img.closest("a") || !img.getAttribute("src")) continue;
      const link = document.createElement("a");
      link.href = img.currentSrc || img.src;
      link.target = "_blank";
      link.rel = "noopener";
      link.className = "figure-zoom";
      link.title = "Open the figure at full size";
      img.replaceWith(link);
      link.appendChild(img);
      link.addEventListener("click", (event) => {
        // shown at (nearly) its own size already: let the link open the file, if wanted
        if (img.naturalWidth <= img.getBoundingClientRect().width * 1.1) return;
        event.preventDefault();
        open(img);
      });
    }
  });
})();
