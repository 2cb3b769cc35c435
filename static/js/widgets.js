// Small pieces of DOM more than one module builds the same way: an inline SVG icon, and the
// ARIA combobox's choice of an option (search.js, emoji-picker.js).

const SVG = "http://www.w3.org/2000/svg";

/** A decorative icon (aria-hidden) of one 24×24 path, `size` pixels wide and high. */
export function icon(path, size = 16) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  const shape = document.createElementNS(SVG, "path");
  shape.setAttribute("fill", "currentColor");
  shape.setAttribute("d", path);
  svg.append(shape);
  return svg;
}

/**
 * Option `index` of a combobox's `options` chosen (-1: none): marked aria-selected, named by
 * the input's aria-activedescendant (focus stays in the input), and scrolled into view.
 */
export function chooseOption(input, options, index) {
  options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
  const option = options[index];
  if (!option) {
    input.removeAttribute("aria-activedescendant");
    return;
  }
  input.setAttribute("aria-activedescendant", option.id);
  option.scrollIntoView({ block: "nearest" });
}
