// On a phone the tables stack (static/css/steward.css): each cell is labelled with its column's
// heading, so a stacked row still reads "State: sent". Without JavaScript the cells stack unlabelled.
function labelCells(root) {
  root.querySelectorAll("table").forEach(function (table) {
    var headings = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (headings[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", headings[i]);
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", function () { labelCells(document); });
document.addEventListener("htmx:afterSwap", function (event) { labelCells(event.target); });
