// Runs before the page is painted: tells the stylesheet that JavaScript is on, so the collapsible
// sidebar and member drawers are only collapsed when there is a script to open them.
document.documentElement.classList.add("js");
