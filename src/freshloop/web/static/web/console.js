// The console pages' one way to call the JSON API: same-origin, CSRF token from the cookie,
// JSON in and out. A non-2xx answer throws an Error whose message is the API's Chinese
// message and whose `data` is the error envelope ({code, message, detail}), so a page can put
// each `detail` problem under its input (`detail` and the HTTP `status` ride on the error
// too). `headers` adds to the defaults (an Idempotency-Key, say).
(function () {
  'use strict';
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : '';
  }
  window.consoleApi = async function (method, url, body, headers) {
    const response = await fetch(url, {
      method: method,
      credentials: 'same-origin',
      headers: Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': csrfToken() }, headers || {}),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const error = new Error((data && data.message) || ('请求失败（' + response.status + '）'));
      error.data = data || {};
      error.detail = error.data.detail;
      error.status = response.status;
      throw error;
    }
    return data;
  };
})();
