// Every figure of the book opens at full resolution when tapped or clicked.
// On a phone a two-panel figure is shrunk to the screen's width, where its axis labels
// are too small to read; the image file itself is 150 dpi and can be zoomed in a new tab.
// Written for this book; no dependencies.
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
  }
});
