/**
 * The page's only script (inline, under the CSP nonce). Every 2 s while `#content` says a send is
 * running, it fetches the same URL and swaps `#content` in (no reload, the filters stay). It reads
 * the dead letters with the page's key: the admin key lists them and can redrive; any other key
 * gets 401, and the page says an admin key is needed. Values go in through textContent only.
 */
export const statusPageScript = `
(function () {
  'use strict';
  var code = document.body.getAttribute('data-code') || '';
  var q = '?code=' + encodeURIComponent(code);
  function refresh() {
    var content = document.getElementById('content');
    if (!content || content.getAttribute('data-running') !== 'true') return;
    fetch(location.href, { cache: 'no-store' }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (html === null) return;
      var next = new DOMParser().parseFromString(html, 'text/html').getElementById('content');
      var current = document.getElementById('content');
      if (next && current) current.replaceWith(document.importNode(next, true));
    }).catch(function () {});
  }
  setInterval(refresh, 2000);

  function cell(row, text) { var td = document.createElement('td'); td.textContent = text; row.appendChild(td); return td; }
  function loadDeadLetters() {
    var box = document.getElementById('deadletters-body');
    fetch('deadletters' + q, { cache: 'no-store' }).then(function (r) {
      if (r.status === 401 || r.status === 403) { box.textContent = 'Dead letters need the admin key: open this page with ?code=<admin key> to see them and redrive.'; return null; }
      if (!r.ok) { box.textContent = 'Dead letters could not be read (HTTP ' + r.status + ').'; return null; }
      return r.json();
    }).then(function (body) {
      if (!body) return;
      box.textContent = '';
      if (body.items.length === 0) { box.textContent = 'No dead letters.'; return; }
      var table = document.createElement('table');
      var head = table.insertRow();
      ['Letter', 'Notification', 'Job', 'Reason', 'Parked', ''].forEach(function (h) { var th = document.createElement('th'); th.textContent = h; head.appendChild(th); });
      body.items.forEach(function (letter) {
        var row = table.insertRow();
        cell(row, letter.id); cell(row, letter.notificationId || ''); cell(row, letter.jobKind || '');
        cell(row, letter.reason + (letter.description ? ': ' + letter.description : '')); cell(row, letter.deadLetteredAt);
        var button = document.createElement('button');
        button.type = 'button'; button.textContent = 'Redrive';
        button.addEventListener('click', function () {
          button.disabled = true;
          fetch('deadletters/' + encodeURIComponent(letter.id) + '/redrive' + q, { method: 'POST' }).then(function (r) {
            return r.json().then(function (b) { button.textContent = r.ok ? 'redriven' : (b.detail || ('HTTP ' + r.status)); });
          }).catch(function () { button.textContent = 'failed'; });
        });
        row.insertCell().appendChild(button);
      });
      box.appendChild(table);
      if (body.continuationToken) { var more = document.createElement('p'); more.textContent = 'More in GET /api/deadletters.'; box.appendChild(more); }
    }).catch(function () { box.textContent = 'Dead letters could not be read.'; });
  }
  loadDeadLetters();
})();
`;
