/* A wide table scrolls inside its own box (.table-scroll) instead of widening the page. While
   the box actually scrolls, it must be reachable from the keyboard (WCAG 2.1.1): it becomes a
   focusable, named region; when it fits again it stops being a tab stop. */
(function () {
  'use strict';
  function nameFor(box) {
    var caption = box.querySelector('caption');
    if (caption && caption.textContent.trim()) { return caption.textContent.trim(); }
    var table = box.querySelector('table');
    if (table && table.getAttribute('aria-label')) { return table.getAttribute('aria-label'); }
    var section = box.closest('section, main');
    var heading = section && section.querySelector('h1, h2, h3');
    return heading ? heading.textContent.trim() : 'Table';
  }
  function update() {
    var boxes = document.querySelectorAll('.table-scroll');
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (box.dataset.fixedRegion === undefined) {
        box.dataset.fixedRegion = box.hasAttribute('tabindex') ? 'yes' : 'no';
      }
      if (box.dataset.fixedRegion === 'yes') { continue; }
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute('tabindex', '0');
        box.setAttribute('role', 'region');
        box.setAttribute('aria-label', 'Scrolls sideways: ' + nameFor(box));
      } else {
        box.removeAttribute('tabindex');
        box.removeAttribute('role');
        box.removeAttribute('aria-label');
      }
    }
  }
  var timer = null;
  function later() { clearTimeout(timer); timer = setTimeout(update, 150); }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', update);
  } else { update(); }
  window.addEventListener('resize', later);
}());
